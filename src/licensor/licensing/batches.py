"""Card batches: issuing many codes at once, streamed to the database and to a CSV.

Memory stays flat whatever the count: codes are made, encrypted, inserted and written in
chunks. Each chunk is a short transaction of its own (docs/adr/0001): on SQLite a batch
would otherwise hold the one write lock for a minute, and every activation meanwhile
waited for it or failed with ``database is locked``; between chunks, others write.

So a batch can be cut short (the process killed, the database gone) with some chunks
committed. It stays visible and never loses track of a code:

* the batch row is committed first, with the count asked for; the batch is *complete*
  when it holds that many codes (``batch_states``: ``licensor codes batches``);
* each chunk's codes are written to ``FILE.csv.partial`` and synced to disk *before* they
  are committed: the partial file lists every committed code (and perhaps the chunk that
  was being committed);
* the CSV gets its final name only once every code is committed;
* an incomplete batch is finished by ``resume_batch`` (``licensor codes issue --resume``),
  which writes the CSV anew from the database (the codes committed, decrypted, in the
  order they were issued) and issues the rest; or removed by ``discard_batch``
  (``licensor codes discard``) while none of its codes has been sold, linked, activated
  or blocked.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload

from licensor.clock import clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import (
    BatchComplete,
    BatchCsvTaken,
    BatchCutShort,
    BatchInUse,
    PartnerUnknown,
    ValidationFailed,
)
from licensor.keys import Keyring
from licensor.licensing.card_batches import (
    CHUNK,
    CSV_COLUMNS,
    CardBatches,
    Line,
    batch_row,
    csv_lines,
    issue_chunk,
)
from licensor.models import ActivationCode, Batch, CodeOrigin, CodeState, License, Partner
from licensor.units import open_unit

MAX_BATCH = 10_000_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class IssuedBatch:
    batch_id: int
    plan: str
    count: int
    path: Path


@dataclass(frozen=True)
class BatchState:
    """A batch as ``licensor codes batches`` shows it: asked for, and held."""

    batch_id: int
    plan: str
    label: str
    partner: str | None
    created_at: datetime
    count: int
    held: int
    csv_downloaded_by: str | None = None
    csv_downloaded_at: datetime | None = None
    blocked_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.held >= self.count


def issue_codes(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    *,
    plan_code: str,
    count: int,
    out: Path,
    label: str = "",
    partner_slug: str | None = None,
    sold_at_till: bool = False,
    actor: str = "cli",
    chunk_size: int = CHUNK,
    progress: Progress | None = None,
) -> IssuedBatch:
    """Issue ``count`` card codes for a plan and write them to ``out`` (CSV), a chunk of
    ``chunk_size`` a transaction. A partner's allocation, or a batch ``sold_at_till``,
    activates only once each sale is recorded."""
    if not 1 <= count <= MAX_BATCH:
        raise ValidationFailed(f"a batch holds 1 to {MAX_BATCH:,} codes")
    with open_unit(database, keyring, settings, clock.now(), actor=actor) as unit:
        session = unit.session
        plan = unit.plans.by_code(plan_code)  # an unknown plan leaves no file or folder
        partner_id = None
        if partner_slug is not None:  # an allocation: the partner sells these codes
            partner_id = session.scalar(select(Partner.id).where(Partner.slug == partner_slug))
            if partner_id is None:
                raise PartnerUnknown(f"there is no partner {partner_slug!r}")
        batch = Batch(
            plan_id=plan.id,
            partner_id=partner_id,
            origin=CodeOrigin.PARTNER_ORDER if partner_id else CodeOrigin.CARD_BATCH,
            label=label,
            count=count,
            sold_at_till=sold_at_till,
            created_at=unit.now,
            created_by=actor,
            issued_count=0,
        )
        session.add(batch)
        session.flush()
        unit.audit(
            "licensing.batch_issued",
            subject_type="batch",
            subject_id=batch.id,
            plan=plan.code,
            count=count,
            sold_at_till=sold_at_till,
        )
        batch_id = batch.id
    with _cut_short_told(database, batch_id, count, out), _partial_file(out) as (partial, handle):
        csv.writer(handle).writerow(CSV_COLUMNS)
        _fill(database, keyring, settings, batch_id, handle, 0, actor, chunk_size, progress)
    partial.replace(out)
    _written(database, keyring, settings, batch_id, actor)
    return IssuedBatch(batch_id, plan_code, count, out)


def resume_batch(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    *,
    batch_id: int,
    out: Path,
    actor: str = "cli",
    chunk_size: int = CHUNK,
    progress: Progress | None = None,
) -> IssuedBatch:
    """Finish an incomplete batch: its committed codes written to ``out`` again, from the
    database, and the rest issued; ``progress`` is told of both."""
    with open_unit(database, keyring, settings, clock.now(), actor=actor) as unit:
        batch = batch_row(unit.session, batch_id)
        plan_code, count = batch.plan.code, batch.count
        held = _held(unit.session, batch_id)
        if held >= count:
            raise BatchComplete(f"batch {batch_id} is complete: it holds its {count:,} codes")
        if batch.csv_downloaded_at is not None:  # the printer's file is handed out once
            raise BatchCsvTaken(
                f"the CSV of batch {batch_id} was downloaded by {batch.csv_downloaded_by} "
                f"on {batch.csv_downloaded_at:%Y-%m-%d %H:%M} UTC"
            )
        unit.audit("licensing.batch_resumed", subject_type="batch", subject_id=batch_id, held=held)
    with _cut_short_told(database, batch_id, count, out), _partial_file(out) as (partial, handle):
        csv.writer(handle).writerow(CSV_COLUMNS)
        written = _rewrite(database, keyring, batch_id, handle, progress)
        _fill(database, keyring, settings, batch_id, handle, written, actor, chunk_size, progress)
    partial.replace(out)
    _written(database, keyring, settings, batch_id, actor)
    return IssuedBatch(batch_id, plan_code, count, out)


def _written(
    database: Database, keyring: Keyring, settings: Settings, batch_id: int, actor: str
) -> None:
    """The command wrote the whole CSV: the batch's file counts as handed out."""
    with open_unit(database, keyring, settings, clock.now(), actor=actor) as unit:
        unit.service(CardBatches).mark_csv_written(batch_id)


def batch_states(database: Database, *, incomplete_only: bool = False) -> list[BatchState]:
    """Every batch (or the incomplete ones), oldest first, with the codes it holds."""
    held = (
        select(ActivationCode.batch_id, func.count().label("held"))
        .where(ActivationCode.batch_id.is_not(None))
        .group_by(ActivationCode.batch_id)
        .subquery()
    )
    with database.transaction() as session:
        rows = session.execute(
            select(Batch, Partner.slug, func.coalesce(held.c.held, 0))
            .options(joinedload(Batch.plan))
            .outerjoin(Partner, Partner.id == Batch.partner_id)
            .outerjoin(held, held.c.batch_id == Batch.id)
            .order_by(Batch.id)
        ).all()
        states = [
            BatchState(
                batch.id,
                batch.plan.code,
                batch.label,
                slug,
                batch.created_at,
                batch.count,
                count,
                batch.csv_downloaded_by,
                batch.csv_downloaded_at,
                batch.blocked_at,
            )
            for batch, slug, count in rows
        ]
    return [state for state in states if not (incomplete_only and state.complete)]


def discard_batch(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    *,
    batch_id: int,
    actor: str = "cli",
    chunk_size: int = CHUNK,
) -> int:
    """Remove an incomplete batch and its codes, a chunk a transaction; how many codes
    went. Refused for a complete batch (its cards may be printed: block them) and for one
    with a code sold, linked, activated or blocked."""
    removed = 0
    while True:
        # Each chunk under the batch row's lock, which the issuing command's last check
        # takes too: a batch still being issued is either found complete here (refused)
        # or found short there (that command fails; no CSV of removed codes appears).
        with open_unit(database, keyring, settings, clock.now(), actor=actor) as unit:
            session = unit.session
            batch = batch_row(session, batch_id, lock=True)
            if removed == 0:
                _removable(session, batch)
            ids = select(ActivationCode.id).where(ActivationCode.batch_id == batch_id)
            chunk = session.scalars(ids.limit(chunk_size)).all()
            if chunk:
                session.execute(delete(ActivationCode).where(ActivationCode.id.in_(chunk)))
                removed += len(chunk)
                continue
            session.delete(batch)
            unit.audit(
                "licensing.batch_discarded",
                subject_type="batch",
                subject_id=batch_id,
                removed=removed,
            )
            return removed


def _removable(session: Session, batch: Batch) -> None:
    """Refuse to remove a complete batch, or one whose codes have gone anywhere."""
    if _held(session, batch.id) >= batch.count:
        raise BatchComplete(
            f"batch {batch.id} is complete; its cards may be printed: block its codes instead"
        )
    used = session.scalar(
        select(
            exists().where(
                ActivationCode.batch_id == batch.id,
                or_(
                    ActivationCode.state != CodeState.ISSUED,
                    ActivationCode.order_id.is_not(None),
                    ActivationCode.account_id.is_not(None),
                    exists().where(License.code_id == ActivationCode.id),
                ),
            )
        )
    )
    if used:
        raise BatchInUse(
            f"codes of batch {batch.id} are sold, linked, activated or blocked; "
            "it cannot be removed"
        )


def _held(session: Session, batch_id: int) -> int:
    count = session.scalar(
        select(func.count()).select_from(ActivationCode).where(ActivationCode.batch_id == batch_id)
    )
    return int(count or 0)


@contextmanager
def _cut_short_told(database: Database, batch_id: int, count: int, out: Path) -> Iterator[None]:
    """Whatever stops the batch midway (Ctrl-C, the database gone) becomes
    ``BatchCutShort``, whose message says what is committed and what to do."""
    try:
        yield
    except BaseException as error:
        try:
            with database.transaction() as session:
                held = f"{_held(session, batch_id):,}"
        except Exception:  # the database is what failed: it cannot say
            held = "some"
        partial = out.with_name(out.name + ".partial")
        raise BatchCutShort(
            f"batch {batch_id} is incomplete: {held} of its {count:,} codes are committed, "
            f"and listed in {partial}; finish it with `licensor codes resume {batch_id} "
            f"--out {out}`, or remove it with `licensor codes discard {batch_id}`"
        ) from error


@contextmanager
def _partial_file(out: Path) -> Iterator[tuple[Path, IO[str]]]:
    """``out``'s partial file, readable by its owner only (it holds codes in clear, for the
    printer); kept if the batch is cut short, since it lists the codes committed."""
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", newline="") as handle:
        yield partial, handle


def _synced(handle: IO[str]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _fill(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    batch_id: int,
    handle: IO[str],
    held: int,
    actor: str,
    chunk_size: int,
    progress: Progress | None,
) -> None:
    """Issue the batch's codes after the ``held`` it has, a chunk a transaction
    (``issue_chunk``, as the worker does), each chunk on disk in the partial file before it
    is committed."""
    writer = csv.writer(handle)
    with database.transaction() as session:
        count = batch_row(session, batch_id).count

    def written(lines: list[Line]) -> None:
        writer.writerows(lines)
        _synced(handle)

    while held < count:
        size = issue_chunk(
            database,
            keyring,
            settings,
            batch_id,
            size=min(chunk_size, count - held),
            now=clock.now(),
            actor=actor,
            before_commit=written,
        )
        if size == 0:  # another run (a worker) filled the rest: the final check says so
            break
        held += size
        if progress:
            progress(size)
    _synced(handle)
    with database.transaction() as session:  # under the lock discard_batch takes
        batch_row(session, batch_id, lock=True)
        if _held(session, batch_id) != count:
            raise RuntimeError(f"codes of batch {batch_id} were removed while it was issued")


def _rewrite(
    database: Database,
    keyring: Keyring,
    batch_id: int,
    handle: IO[str],
    progress: Progress | None,
) -> int:
    """The batch's committed codes into the CSV again, in the order they were issued
    (``csv_lines``, as the console's download reads them); how many."""
    writer = csv.writer(handle)
    written = 0
    for lines in csv_lines(database, keyring, batch_id):
        writer.writerows(lines)
        written += len(lines)
        if progress:
            progress(len(lines))
    return written
