"""A seat's last-seen time, written behind the validation answers (docs/adr/0003).

Validation marks a seat seen at most every ``seen_interval_seconds``; the mark must never
hold the answer up. On SQLite a write waits its turn for the one write lock (a card batch
holds it for a minute); on PostgreSQL a write waits on a row lock or a database that stopped
answering. So the answer only notes the mark here, and a thread of the writer's own writes
what was noted, at most once a ``delay``, in one short transaction (ADR 0001: every write
in a transaction): the event loop never waits on a write, and a slow one holds up nothing
but the next batch. The thread runs while there is something to write and ends when idle.

A batch that fails (the database away or locked past its timeout) is kept for the next
round: a last-seen time is worth a retry, not an error.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, update

from licensor.db import Database
from licensor.logging import log
from licensor.models import Activation

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


class LastSeenWriter:
    """Notes seats seen, and writes them in batches from a thread of its own."""

    def __init__(self, database: Database, delay: float = DELAY_SECONDS) -> None:
        self.database = database
        self.delay = delay
        self._noted: dict[int, datetime] = {}
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
            if self._thread is None and not self._closed:
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
                if not batch:
                    self._thread = None
                    return
            if not self._write(batch):
                with self._lock:
                    self._noted = {**self._noted, **batch}
                if self._closed:
                    return  # shutting down, and the database is away: nothing more to do

    def _write(self, batch: dict[int, datetime]) -> bool:
        rows = [{"seat_id": seat_id, "seen_at": seen_at} for seat_id, seen_at in batch.items()]
        try:
            with self.database.transaction() as session:
                session.execute(_MARK_SEEN, rows)
        except Exception as error:  # kept for the next round; nobody waits on this
            log.warning("licensing.last_seen_not_written", seats=len(rows), error=repr(error))
            return False
        return True
