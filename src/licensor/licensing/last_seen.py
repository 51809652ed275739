"""A seat's last-seen time, written behind the validation answers (docs/adr/0003).

Validation marks a seat seen at most every ``seen_interval_seconds``; the mark must never
hold the answer up. On SQLite a write waits its turn for the one write lock (a card batch
holds it for a minute); on PostgreSQL a write waits on a row lock or a database that stopped
answering. So the answer only notes the mark here, and a thread of the writer's own writes
what was noted, at most once a ``delay``, in one short transaction (ADR 0001: every write
in a transaction): the event loop never waits on a write, and a slow one holds up nothing
but the next batch. The thread runs while there is something to write and ends when idle.

The same batch adds the validations answered to their day's count in ``usage_days`` (the
console's dashboard): every answer, valid or not, costs an increment under the writer's
lock, and the counts are written with the marks, or alone when no mark is due.

A batch that fails (the database away or locked past its timeout) is kept for the next
round: a last-seen time is worth a retry, not an error.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from licensor.db import Database
from licensor.logging import log
from licensor.models import Activation, UsageDay

DELAY_SECONDS = 1.0

_activations = cast(Table, Activation.__table__)
_seats = _activations.c
# Never moves a seat's time back (a mark noted before a newer one was written elsewhere).
_MARK_SEEN = (
    update(_activations)
    .where(
        _seats.id == bindparam("seat_id"),
        _seats.last_validated_at < bindparam("seen_at"),
    )
    .values(last_validated_at=bindparam("seen_at"))
)

VALIDATIONS_METRIC = "validations"


def _add_to_day(dialect: Any) -> Any:
    values = dialect.insert(UsageDay)
    return values.on_conflict_do_update(
        index_elements=[UsageDay.day, UsageDay.metric],
        set_={"count": UsageDay.count + values.excluded["count"]},
    )


# Several processes add to the same day: the database adds, never this process.
_ADD_TO_DAY = {"postgresql": _add_to_day(postgresql), "sqlite": _add_to_day(sqlite)}


class LastSeenWriter:
    """Notes seats seen, and writes them in batches from a thread of its own."""

    def __init__(self, database: Database, delay: float = DELAY_SECONDS) -> None:
        self.database = database
        self.delay = delay
        self._noted: dict[int, datetime] = {}
        self._validations: Counter[date] = Counter()  # answers a day, not yet written
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set when closing: write at once
        self._thread: threading.Thread | None = None
        self._closed = False

    def note(self, seat_id: int, seen_at: datetime) -> None:
        """Mark the seat seen at ``seen_at``, soon; returns at once."""
        with self._lock:
            # The first mark of a seat is its time, as if written at once: marks after it
            # are within the interval and would not have been written.
            self._noted.setdefault(seat_id, seen_at)
            if self._thread is None:
                self._start()

    def count_validation(self, day: date) -> None:
        """Count a validation answered on ``day`` (UTC), written soon; returns at once."""
        with self._lock:
            self._validations[day] += 1
            if self._thread is None:
                self._start()

    def _start(self) -> None:
        # Called under the lock, with no thread running.
        if not self._closed:
            self._thread = threading.Thread(
                target=self._run, name="licensor-last-seen", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Write what is noted at once, and stop (the app's shutdown)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            if not self._closed:
                self._wake.wait(self.delay)
                self._wake.clear()
            with self._lock:
                batch, self._noted = self._noted, {}
                validations, self._validations = self._validations, Counter()
                if not batch and not validations:
                    self._thread = None
                    return
            if not self._write(batch, validations):
                with self._lock:
                    self._noted = {**self._noted, **batch}
                    self._validations.update(validations)
                if self._closed:
                    return  # shutting down, and the database is away: nothing more to do

    def _write(self, batch: dict[int, datetime], validations: Counter[date]) -> bool:
        rows = [{"seat_id": seat_id, "seen_at": seen_at} for seat_id, seen_at in batch.items()]
        days = [
            {"day": day, "metric": VALIDATIONS_METRIC, "count": count}
            for day, count in sorted(validations.items())
        ]
        try:
            with self.database.transaction() as session:
                if rows:
                    session.execute(_MARK_SEEN, rows)
                if days:
                    add = _ADD_TO_DAY[session.get_bind().dialect.name]
                    session.execute(add, days)
        except Exception as error:  # kept for the next round; nobody waits on this
            log.warning(
                "licensing.last_seen_not_written",
                seats=len(rows),
                validations=sum(validations.values()),
                error=repr(error),
            )
            return False
        return True
