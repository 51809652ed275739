"""Work claimed under a lease and retried with backoff: the one way ``licensor worker``
takes the outbox's messages and the jobs (``models.base.Leased``).

A row is due when it is neither finished nor given up, its next attempt has come and no
lease holds it. A worker claims a few due rows in one short transaction (``SKIP LOCKED``:
workers never wait for each other), and each claim counts as an attempt, so work that
kills its worker every time is still given up in the end. The work itself is done with no
transaction open, and its outcome recorded in a transaction of its own. A worker killed
mid-work loses nothing: what it claimed is due again when the lease runs out, and claims
are small, so it strands little.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from licensor.db import Database
from licensor.models.base import Leased

FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600

Row = TypeVar("Row", bound=Leased)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: doubling from 30 s to an hour."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), LONGEST_RETRY_SECONDS))


class Failure(StrEnum):
    """What became of a failed attempt."""

    RETRY = "retry"  # due again after the backoff
    GIVEN_UP = "given_up"
    LEASE_LOST = "lease_lost"  # the row moved on without this worker: nothing recorded


@dataclass(frozen=True)
class LeasedTable(Generic[Row]):
    """A table of leased work, and its column that marks a row finished."""

    model: type[Row]
    finished: InstrumentedAttribute[datetime | None]

    def claim(
        self, database: Database, now: datetime, *, batch: int, lease: timedelta
    ) -> list[Row]:
        """Take up to ``batch`` due rows for this worker until ``now + lease``; other
        workers skip them. The rows come back detached, as they were claimed."""
        model = self.model
        with database.transaction() as session:
            query = (
                select(model)
                .where(
                    self.finished.is_(None),
                    model.failed_at.is_(None),
                    model.next_attempt_at <= now,
                    or_(model.claimed_until.is_(None), model.claimed_until <= now),
                )
                .order_by(model.next_attempt_at, model.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.scalars(query))
            for row in rows:
                row.claimed_until = now + lease
                row.attempts += 1
            session.flush()
            for row in rows:
                session.expunge(row)
        return rows

    def finish(self, database: Database, claimed: Row, now: datetime) -> bool:
        """Mark a claimed row finished; False when it already was (finished is finished,
        whichever worker got there first)."""
        with database.transaction() as session:
            stored = self._locked(session, claimed)
            if getattr(stored, self.finished.key) is not None:
                return False
            setattr(stored, self.finished.key, now)
            stored.failed_at = None
            stored.claimed_until = None
            stored.last_error = None
        return True

    def fail(
        self, database: Database, claimed: Row, now: datetime, error: str, *, give_up: bool
    ) -> Failure:
        """Record a failed attempt: due again after the backoff, or given up. Nothing is
        recorded when the row moved on without this worker: its lease ran out and another
        claimed it again (the attempt count tells), or finished it."""
        with database.transaction() as session:
            stored = self._locked(session, claimed)
            if (
                getattr(stored, self.finished.key) is not None
                or stored.attempts != claimed.attempts
            ):
                return Failure.LEASE_LOST
            stored.claimed_until = None
            stored.last_error = error[:2000]
            if give_up:
                stored.failed_at = now
                return Failure.GIVEN_UP
            stored.next_attempt_at = now + backoff(stored.attempts)
            return Failure.RETRY

    def _locked(self, session: Session, claimed: Row) -> Row:
        return session.get_one(self.model, claimed.id, with_for_update=True)
