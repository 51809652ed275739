"""Counts a day, for the console's dashboard and ``licensor report figures``.

Each domain counts its own rows a day with one ``GROUP BY`` query (``day_of`` a moment
column, filtered by ``DayRange.start``/``end`` so the column's index bounds the scan);
``dense`` lays the rows that came back over every day of the range, zeros between. Days
are UTC days, as every moment is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from licensor.errors import FormInvalid
from licensor.models import AuditEvent

MAX_DAYS = 366  # a year, a leap day included: a chart still readable bar by bar
DEFAULT_DAYS = 30
PRESETS = (7, 30, 90)


@dataclass(frozen=True)
class DayRange:
    """The days from ``first`` to ``last``, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The first moment of the range (UTC)."""
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the range (UTC)."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(len(self))]

    def __len__(self) -> int:
        return (self.last - self.first).days + 1

    @classmethod
    def last_days(cls, count: int, today: date) -> DayRange:
        """The ``count`` days up to ``today``, today included."""
        return cls(today - timedelta(days=count - 1), today)


def day_range(first: date | None, last: date | None, today: date) -> DayRange:
    """The range asked for: the last ``DEFAULT_DAYS`` days without bounds, up to today
    without an end, ``DEFAULT_DAYS`` back from the end without a start. An inverted
    range, or one over ``MAX_DAYS``, is refused beside the field to change (``to``)."""
    if last is None:
        last = today if first is None else max(first, min(today, first + timedelta(MAX_DAYS - 1)))
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise FormInvalid({"to": "range_inverted"})
    if (last - first).days + 1 > MAX_DAYS:
        raise FormInvalid({"to": "range_too_long"})
    return DayRange(first, last)


def typed_range(first: str, last: str, today: date) -> DayRange:
    """``day_range`` of two fields given as ISO days (a page's ``typed_date`` makes them
    so) or empty; a field that is no day is refused beside it (``from`` or ``to``)."""
    problems: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for field, text in (("from", first), ("to", last)):
        days[field] = None
        if text.strip():
            try:
                days[field] = date.fromisoformat(text.strip())
            except ValueError:
                problems[field] = "date_invalid"
    if problems:
        raise FormInvalid(problems)
    return day_range(days["from"], days["to"], today)


def day_of(session: Session, moment: Any) -> ColumnElement[Any]:
    """The UTC day of a moment column, as SQL, for ``GROUP BY``: SQLite keeps moments as
    naive UTC text; PostgreSQL's ``timestamptz`` is turned to UTC before the cast, or the
    connection's time zone would move it."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(moment)
    # A literal, not a bound parameter: the expression in SELECT and GROUP BY must read
    # the same to PostgreSQL.
    return cast(func.timezone(literal_column("'UTC'"), moment), Date)


def as_day(value: Any) -> date:
    """A day as the driver returns it (SQLite: text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def dense(rows: Iterable[Any], days: DayRange) -> list[int]:
    """``(day, count)`` rows as one count for each day of the range, zero where none."""
    counts = {as_day(day): int(count or 0) for day, count in rows}
    return [counts.get(day, 0) for day in days.days]


def count_actions(session: Session, actions: Iterable[str], days: DayRange) -> dict[str, int]:
    """How many audit rows of each action the range holds (the indexes on ``action`` and
    ``occurred_at`` behind it); an action without rows is 0."""
    wanted = list(actions)
    rows = session.execute(
        select(AuditEvent.action, func.count())
        .where(
            AuditEvent.action.in_(wanted),
            AuditEvent.occurred_at >= days.start,
            AuditEvent.occurred_at < days.end,
        )
        .group_by(AuditEvent.action)
    )
    counts = dict(rows.all())
    return {action: int(counts.get(action, 0)) for action in wanted}
