"""Reading the audit trail (licensor/audit.py writes it): filtered, newest first, a page at
a time by keyset on the id, or every row for a CSV export with memory flat. The console's
``/console/audit`` and ``licensor audit list`` read it here.

It lives with the accounts because its actors are mostly accounts (``account:12``), shown
and picked by their email. Each filter has an index behind it: actor, action, occurred_at
and (subject_type, subject_id); an action prefix (``licensing.``) is widened to the
actions present that start with it, read by a skip scan of the action index, so it too
stays an index lookup.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from licensor.accounts.service import normalize_email
from licensor.clock import isoformat
from licensor.errors import FormInvalid
from licensor.models import Account, AuditEvent, License, Order, SupportRequest
from licensor.units import Service

PAGE_SIZE = 50
EXPORT_BATCH = 500
CSV_HEADER = (
    "id",
    "occurred_at",
    "actor",
    "actor_email",
    "action",
    "subject_type",
    "subject_id",
    "reason",
    "details",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    """What the log is narrowed to; empty fields narrow nothing."""

    actor: str = ""  # exact: account:12, cli, payments:stripe
    actor_email: str = ""  # a member of staff (or anyone) by address
    action: str = ""  # exact, or a prefix ending in "." (licensing.)
    subject_type: str = ""
    subject_id: int | None = None
    since: date | None = None
    until: date | None = None  # the whole day included

    def as_details(self) -> dict[str, Any]:
        """The filter as an audit row's details record it (the export's own row)."""
        return {name: str(value) for name, value in vars(self).items() if value not in ("", None)}


@dataclass(frozen=True)
class AuditRow:
    id: int
    occurred_at: datetime
    actor: str
    actor_email: str | None
    action: str
    subject_type: str
    subject_id: int | None
    reason: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    older: int | None  # the ``before`` of the next page, None on the last


def parse_filter(
    *,
    actor: str = "",
    actor_email: str = "",
    action: str = "",
    subject: str = "",
    subject_type: str = "",
    subject_id: str = "",
    since: str = "",
    until: str = "",
) -> AuditFilter:
    """A filter from text as typed (dates in ISO: a page converts its language's first);
    ``subject`` is ``TYPE:ID`` (the CLI's). FormInvalid names each bad field."""
    problems: dict[str, str] = {}
    if subject:
        subject_type, _, subject_id = subject.partition(":")
    number: int | None = None
    if subject_id.strip():
        try:
            number = int(subject_id.strip())
        except ValueError:
            problems["subject_id"] = "number_invalid"
    days: dict[str, date | None] = {}
    for name, text in (("since", since), ("until", until)):
        days[name] = None
        if text.strip():
            try:
                days[name] = date.fromisoformat(text.strip())
            except ValueError:
                problems[name] = "date_invalid"
    if problems:
        raise FormInvalid(problems)
    return AuditFilter(
        actor=actor.strip(),
        actor_email=actor_email.strip(),
        action=action.strip(),
        subject_type=subject_type.strip(),
        subject_id=number,
        since=days["since"],
        until=days["until"],
    )


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a ``'``."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class AuditLog(Service):
    """The audit trail as staff read it."""

    def actions(self) -> list[str]:
        """The actions present, sorted: a skip scan of the action index (one short query
        per action, not a pass over every row)."""
        found: list[str] = []
        last: str | None = None
        while True:
            query = select(func.min(AuditEvent.action))
            if last is not None:
                query = query.where(AuditEvent.action > last)
            last = self.session.scalar(query)
            if last is None:
                return found
            found.append(last)

    def page(
        self, wanted: AuditFilter, *, before: int | None = None, size: int = PAGE_SIZE
    ) -> AuditPage:
        """Up to ``size`` rows older than the id ``before`` (None: the newest)."""
        query = self._query(wanted)
        if query is None:
            return AuditPage([], None)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        events = list(self.session.scalars(query.order_by(AuditEvent.id.desc()).limit(size + 1)))
        older = events[size - 1].id if len(events) > size else None
        return AuditPage(self._rows(events[:size]), older)

    def every(self, wanted: AuditFilter, *, limit: int | None = None) -> Iterator[AuditRow]:
        """Every matching row, newest first, read in batches (the session forgets each
        batch), so an export of millions holds one batch at a time."""
        query = self._query(wanted)
        if query is None:
            return
        before: int | None = None
        given = 0
        while limit is None or given < limit:
            batch = EXPORT_BATCH if limit is None else min(EXPORT_BATCH, limit - given)
            page = query if before is None else query.where(AuditEvent.id < before)
            events = list(self.session.scalars(page.order_by(AuditEvent.id.desc()).limit(batch)))
            if not events:
                return
            before = events[-1].id
            rows = self._rows(events)
            self.session.expunge_all()
            yield from rows
            given += len(rows)
            if len(events) < batch:
                return

    def csv_chunks(self, wanted: AuditFilter, *, limit: int | None = None) -> Iterator[str]:
        """The matching rows as CSV text, a header row first, a chunk per batch: ISO
        times, details as JSON, no cell a spreadsheet would run as a formula."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        count = 0
        for row in self.every(wanted, limit=limit):
            writer.writerow([safe_cell(value) for value in csv_values(row)])
            count += 1
            if count % EXPORT_BATCH == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def subject_names(self, rows: Sequence[AuditRow]) -> dict[tuple[str, int], str]:
        """What pages name some subjects by instead of their id: a license by its public
        ID, an order and a support request by their numbers."""
        wanted: dict[str, set[int]] = {}
        for row in rows:
            if row.subject_type in _NAMED_BY and row.subject_id is not None:
                wanted.setdefault(row.subject_type, set()).add(row.subject_id)
        names: dict[tuple[str, int], str] = {}
        for kind, ids in wanted.items():
            model, column = _NAMED_BY[kind]
            for subject_id, name in self.session.execute(
                select(model.id, column).where(model.id.in_(ids))
            ):
                names[(kind, subject_id)] = name
        return names

    def resolved(self, wanted: AuditFilter) -> AuditFilter:
        """The filter with a staff member's email turned into their actor name; FormInvalid
        when no account has it."""
        if not wanted.actor_email:
            return wanted
        account = self.unit.accounts.by_email(normalize_email(wanted.actor_email))
        if account is None:
            raise FormInvalid({"actor_email": "actor_email_unknown"})
        return replace(wanted, actor=f"account:{account.id}", actor_email="")

    def _query(self, wanted: AuditFilter) -> Select[AuditEvent] | None:
        wanted = self.resolved(wanted)
        query = select(AuditEvent)
        if wanted.actor:
            query = query.where(AuditEvent.actor == wanted.actor)
        if wanted.action.endswith("."):
            matching = [a for a in self.actions() if a.startswith(wanted.action)]
            if not matching:
                return None
            query = query.where(AuditEvent.action.in_(matching))
        elif wanted.action:
            query = query.where(AuditEvent.action == wanted.action)
        if wanted.subject_type:
            query = query.where(AuditEvent.subject_type == wanted.subject_type)
        if wanted.subject_id is not None:
            query = query.where(AuditEvent.subject_id == wanted.subject_id)
        if wanted.since is not None:
            query = query.where(AuditEvent.occurred_at >= _midnight(wanted.since))
        if wanted.until is not None:
            query = query.where(
                AuditEvent.occurred_at < _midnight(wanted.until + timedelta(days=1))
            )
        return query

    def _rows(self, events: Sequence[AuditEvent]) -> list[AuditRow]:
        account_ids = {_account_id(event.actor) for event in events} - {None}
        emails = (
            dict(
                self.session.execute(
                    select(Account.id, Account.email).where(Account.id.in_(account_ids))
                ).all()
            )
            if account_ids
            else {}
        )
        return [
            AuditRow(
                id=event.id,
                occurred_at=event.occurred_at,
                actor=event.actor,
                actor_email=emails.get(_account_id(event.actor) or 0),
                action=event.action,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                reason=event.reason,
                details=dict(event.details or {}),
            )
            for event in events
        ]


_NAMED_BY: dict[str, tuple[Any, Any]] = {
    "license": (License, License.public_id),
    "order": (Order, Order.number),
    "support_request": (SupportRequest, SupportRequest.number),
}


def csv_values(row: AuditRow) -> list[str]:
    """A row's cells in ``CSV_HEADER``'s order, before the formula guard."""
    return [
        str(row.id),
        isoformat(row.occurred_at) or "",
        row.actor,
        row.actor_email or "",
        row.action,
        row.subject_type,
        "" if row.subject_id is None else str(row.subject_id),
        row.reason or "",
        json.dumps(row.details, sort_keys=True, ensure_ascii=False),
    ]


def _account_id(actor: str) -> int | None:
    kind, _, number = actor.partition(":")
    return int(number) if kind == "account" and number.isdigit() else None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
