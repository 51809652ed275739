"""Card batches run from the console and the CLI alike: issued in the background a chunk at a
time, the printer's CSV handed out once, a batch blocked whole or allocated to a partner.

``issue_chunk`` is the one way a batch's codes are made (``licensor codes issue`` and the
``licensing.issue_batch`` job both call it): a short transaction that locks the batch's row,
reads how many codes it holds (``issued_count``), adds the next chunk and counts it. Under
that lock two workers, or a worker and a resumed command, never add more than the batch's
count; a worker that dies mid-batch leaves ``issued_count`` right, and the next run goes on
from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, joinedload

from licensor import jobs
from licensor.config import Settings
from licensor.db import Database, bulk_insert
from licensor.errors import (
    BatchBlocked,
    BatchCsvTaken,
    BatchInUse,
    BatchUnknown,
    FormInvalid,
    PlanRetired,
    PlanUnknown,
)
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.licensing.codes import CODE_PURPOSE
from licensor.models import ActivationCode, Batch, CodeOrigin, CodeState, License, Partner
from licensor.units import Service, open_unit

ISSUE_JOB = "licensing.issue_batch"
MAX_CONSOLE_BATCH = 1_000_000
CHUNK = 5_000  # codes a transaction: about 0.1 s of SQLite's write lock
CSV_COLUMNS = ["activation_code", "plan", "plan_name", "batch", "serial"]
PAGE_SIZE = 50

# A printer's line: the code as printed, the plan, the batch and the code's serial in it.
Line = tuple[str, str, str, int, int]


def issue_chunk(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    batch_id: int,
    *,
    size: int,
    now: datetime,
    actor: str,
    before_commit: Callable[[list[Line]], None] | None = None,
) -> int:
    """Add up to ``size`` of the batch's missing codes in one short transaction; how many
    were added (0: the batch is whole). ``before_commit`` is given the chunk's printer lines
    before it commits (the CLI's CSV lists every committed code)."""
    with open_unit(database, keyring, settings, now, actor=actor) as unit:
        # Made before the first statement: on SQLite that statement takes the one write
        # lock, held from there to the commit only (encrypting a chunk: some 50 ms).
        canonicals = list(formats.generate_codes(size))
        batch = batch_row(unit.session, batch_id, lock=True)
        wanted = min(size, batch.count - batch.issued_count)
        if wanted <= 0:
            return 0
        held, plan = batch.issued_count, batch.plan
        rows: list[dict[str, Any]] = []
        lines: list[Line] = []
        for serial, canonical in enumerate(canonicals[:wanted], held + 1):
            row = unit.codes.new_code_row(canonical, plan, batch.origin)
            row["batch_id"] = batch_id
            row["created_at"] = batch.created_at
            if batch.blocked_at is not None:  # blocked while issued: the rest are born blocked
                row |= {
                    "state": CodeState.BLOCKED.value,
                    "blocked_at": batch.blocked_at,
                    "blocked_reason": batch.blocked_reason,
                }
            rows.append(row)
            lines.append((formats.format_code(canonical), plan.code, plan.name, batch_id, serial))
        if before_commit is not None:
            before_commit(lines)
        bulk_insert(unit.session, ActivationCode, rows)
        batch.issued_count = held + wanted
        return wanted


def csv_lines(database: Database, keyring: Keyring, batch_id: int) -> Iterator[list[Line]]:
    """The batch's codes as the printer's lines, in the order they were issued, a chunk at a
    time, each read in a short transaction of its own and decrypted after it: memory stays
    flat and no transaction is held while the caller writes."""
    with database.transaction() as session:
        plan = batch_row(session, batch_id).plan
        plan_code, plan_name = plan.code, plan.name
    serial, after = 0, 0
    while True:
        with database.transaction() as session:
            chunk = session.execute(
                select(ActivationCode.id, ActivationCode.code_ciphertext)
                .where(ActivationCode.batch_id == batch_id, ActivationCode.id > after)
                .order_by(ActivationCode.id)
                .limit(CHUNK)
            ).all()
        if not chunk:
            return
        lines: list[Line] = []
        for code_id, ciphertext in chunk:
            serial += 1
            canonical = keyring.decrypt(ciphertext, purpose=CODE_PURPOSE)
            lines.append((formats.format_code(canonical), plan_code, plan_name, batch_id, serial))
            after = code_id
        yield lines


@dataclass(frozen=True)
class BatchRow:
    """A batch as the console lists it."""

    batch: Batch
    partner_slug: str | None
    partner_name: str | None

    @property
    def issuing(self) -> bool:
        return self.batch.issued_count < self.batch.count


def batch_row(session: Session, batch_id: int, *, lock: bool = False) -> Batch:
    """The batch with its plan (``lock``: its row locked, read afresh); else BatchUnknown."""
    query = select(Batch).options(joinedload(Batch.plan)).where(Batch.id == batch_id)
    if lock:
        query = query.with_for_update(of=Batch).execution_options(populate_existing=True)
    batch = session.scalar(query)
    if batch is None:
        raise BatchUnknown(f"there is no batch {batch_id}")
    return batch


class CardBatches(Service):
    """Card batches in one unit of work (``unit.service(CardBatches)``): the console's and
    the CLI's rules for them."""

    def start(
        self,
        *,
        plan_code: str,
        count: int | None,
        label: str = "",
        partner_slug: str | None = None,
        sold_at_till: bool = False,
        chunk_size: int = CHUNK,
    ) -> Batch:
        """A new batch, issued in the background by the worker (``licensing.issue_batch``);
        audited as ``codes issue`` is."""
        problems: dict[str, str] = {}
        plan = None
        try:
            plan = self.unit.plans.by_code(plan_code) if plan_code.strip() else None
        except (PlanUnknown, PlanRetired):
            pass
        if plan is None:
            problems["plan"] = "plan_unknown"
        if count is None or not 1 <= count <= MAX_CONSOLE_BATCH:
            problems["count"] = "count_range"
        if len(label) > 200:
            problems["label"] = "label_long"
        partner = self._partner(partner_slug, problems) if partner_slug else None
        if problems:
            raise FormInvalid(problems)
        assert plan is not None
        assert count is not None
        batch = Batch(
            plan_id=plan.id,
            partner_id=partner.id if partner else None,
            origin=CodeOrigin.PARTNER_ORDER if partner else CodeOrigin.CARD_BATCH,
            label=label.strip(),
            count=count,
            sold_at_till=sold_at_till,
            created_at=self.now,
            created_by=self.unit.actor,
            issued_count=0,
        )
        self.session.add(batch)
        self.session.flush()
        jobs.enqueue(self.session, self.now, ISSUE_JOB, batch_id=batch.id, chunk_size=chunk_size)
        self.unit.audit(
            "licensing.batch_issued",
            subject_type="batch",
            subject_id=batch.id,
            plan=plan.code,
            count=count,
            sold_at_till=sold_at_till,
            partner=partner.slug if partner else None,
            background=True,
        )
        return batch

    def _partner(self, slug: str, problems: dict[str, str]) -> Partner | None:
        partner = self.session.scalar(select(Partner).where(Partner.slug == slug.strip().lower()))
        if partner is None:
            problems["partner"] = "partner_unknown"
        return partner

    def newest(self, *, before: int | None = None, limit: int = PAGE_SIZE) -> list[BatchRow]:
        """A page of batches, newest first; ``before``: the batches older than that id
        (keyset pagination on the primary key)."""
        query = (
            select(Batch, Partner.slug, Partner.name)
            .options(joinedload(Batch.plan))
            .outerjoin(Partner, Partner.id == Batch.partner_id)
            .order_by(Batch.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(Batch.id < before)
        return [BatchRow(b, slug, name) for b, slug, name in self.session.execute(query).all()]

    def get(self, batch_id: int) -> BatchRow:
        """One batch, with its plan and partner."""
        batch = batch_row(self.session, batch_id)
        partner = self.session.get(Partner, batch.partner_id) if batch.partner_id else None
        return BatchRow(batch, partner.slug if partner else None, partner.name if partner else None)

    def take_csv(self, batch_id: int) -> Batch:
        """Hand the printer's CSV out, once: record who and when and audit it, before a byte
        of it goes (the caller streams ``csv_lines`` once this commits). ``BatchCsvTaken``
        the second time, until an admin allows one more."""
        batch = batch_row(self.session, batch_id, lock=True)
        if batch.csv_downloaded_at is not None:
            raise BatchCsvTaken(
                f"the CSV of batch {batch_id} was downloaded by {batch.csv_downloaded_by} "
                f"on {batch.csv_downloaded_at:%Y-%m-%d %H:%M} UTC"
            )
        if batch.issued_count < batch.count:
            raise BatchInUse(f"batch {batch_id} is still being issued")
        batch.csv_downloaded_at = self.now
        batch.csv_downloaded_by = self.unit.actor
        self.session.flush()
        self.unit.audit(
            "licensing.batch_csv_downloaded",
            subject_type="batch",
            subject_id=batch_id,
            codes=batch.count,
        )
        return batch

    def allow_csv_again(self, batch_id: int, *, reason: str) -> Batch:
        """Let the CSV be downloaded once more (a printer's file lost), with a reason;
        audited with who had downloaded it."""
        reason = reason.strip()
        if not reason:
            raise FormInvalid({"reason": "reason_missing"})
        batch = batch_row(self.session, batch_id, lock=True)
        if batch.csv_downloaded_at is None:
            return batch
        self.unit.audit(
            "licensing.batch_csv_allowed_again",
            subject_type="batch",
            subject_id=batch_id,
            reason=reason,
            downloaded_by=batch.csv_downloaded_by,
            downloaded_at=batch.csv_downloaded_at.isoformat(),
        )
        batch.csv_downloaded_at = None
        batch.csv_downloaded_by = None
        self.session.flush()
        return batch

    def mark_csv_written(self, batch_id: int) -> None:
        """``codes issue --out``'s CSV was written at issue: the batch counts as downloaded by
        the command's user (no audit of its own: ``licensing.batch_issued`` says it)."""
        batch = batch_row(self.session, batch_id, lock=True)
        if batch.csv_downloaded_at is None:
            batch.csv_downloaded_at = self.now
            batch.csv_downloaded_by = self.unit.actor
            self.session.flush()

    def block(self, batch_id: int, *, reason: str) -> int:
        """Block every code of the batch and their licenses (grey market), in set-based
        UPDATEs; codes issued later are born blocked (``issue_chunk``). How many codes were
        blocked now; audited."""
        reason = reason.strip()
        if not reason:
            raise FormInvalid({"reason": "reason_missing"})
        batch = batch_row(self.session, batch_id, lock=True)
        if batch.blocked_at is not None:
            raise BatchBlocked(f"batch {batch_id} was blocked on {batch.blocked_at:%Y-%m-%d}")
        batch.blocked_at, batch.blocked_reason = self.now, reason
        in_batch = select(ActivationCode.id).where(ActivationCode.batch_id == batch_id)
        # Licenses first: they are found by their codes, whichever state those are in.
        self.session.execute(
            update(License)
            .where(License.code_id.in_(in_batch), License.blocked_at.is_(None))
            .values(blocked_at=self.now, blocked_reason=reason)
        )
        # A code blocked before keeps its own reason.
        blocked = self.session.execute(
            update(ActivationCode)
            .where(ActivationCode.batch_id == batch_id, ActivationCode.state != CodeState.BLOCKED)
            .values(state=CodeState.BLOCKED, blocked_at=self.now, blocked_reason=reason)
        )
        count = int(getattr(blocked, "rowcount", 0) or 0)
        self.session.flush()
        self.unit.audit(
            "licensing.batch_blocked",
            subject_type="batch",
            subject_id=batch_id,
            reason=reason,
            codes=count,
        )
        return count

    def allocate(self, batch_id: int, partner_slug: str) -> Batch:
        """Make the batch a partner's allocation (its codes activate once the partner
        records each sale), while none of its codes is sold, linked or activated; audited."""
        problems: dict[str, str] = {}
        partner = self._partner(partner_slug, problems) if partner_slug.strip() else None
        if partner is None:
            raise FormInvalid(problems or {"partner": "partner_unknown"})
        batch = batch_row(self.session, batch_id, lock=True)
        if batch.blocked_at is not None:
            raise BatchBlocked(f"batch {batch_id} is blocked")
        gone = self.session.scalar(
            select(
                exists().where(
                    ActivationCode.batch_id == batch_id,
                    or_(
                        ActivationCode.state != CodeState.ISSUED,
                        ActivationCode.order_id.is_not(None),
                        ActivationCode.account_id.is_not(None),
                        exists().where(License.code_id == ActivationCode.id),
                    ),
                )
            )
        )
        if gone:
            raise BatchInUse(f"codes of batch {batch_id} are sold, linked or activated already")
        before = batch.partner_id
        batch.partner_id = partner.id
        batch.origin = CodeOrigin.PARTNER_ORDER
        self.session.execute(
            update(ActivationCode)
            .where(ActivationCode.batch_id == batch_id)
            .values(origin=CodeOrigin.PARTNER_ORDER)
        )
        self.session.flush()
        self.unit.audit(
            "licensing.batch_allocated",
            subject_type="batch",
            subject_id=batch_id,
            partner=partner.slug,
            previous_partner_id=before,
        )
        return batch
