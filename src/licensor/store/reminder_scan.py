"""The periodic scan that sends expiry reminders (``store/reminders.py`` says what and to
whom), as ``licensor worker`` runs it every REMINDERS_EVERY.

Thresholds are worked nearest first, each in batches: a batch is read in a transaction of
its own, then each reminder is recorded and its mail written in one more, so a reminder
that fails (a template, a lost connection) holds up nothing else and is tried next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.logging import log
from licensor.store.reminders import BATCH, DueReminder, reminder_days
from licensor.units import open_unit

REMINDERS_EVERY = timedelta(minutes=5)
# A backlog (a worker away for days) is worked off a few runs at a time, so that one run
# never holds the worker's turn, and the mail behind it, for long.
MAX_PER_RUN = 2_000
MAX_FAILURES = 10


def run_due(database: Database, keyring: Keyring, settings: Settings, now: datetime) -> int:
    """Send the reminders due at ``now`` (at most MAX_PER_RUN); how many mails went out.

    A reminder that fails is logged and left for the next run; the others go on, unless
    failures pile up (a database away), when the run ends early."""
    sent = handled = failed = 0
    for days in reminder_days(settings):
        for batch in _batches(database, keyring, settings, now, days):
            for due in batch:
                try:
                    with open_unit(database, keyring, settings, now, actor="worker") as unit:
                        sent += unit.reminders.send(due)
                except Exception as error:
                    log.error(
                        "licensing.expiry_reminder_error",
                        license=due.license_id,
                        days=due.days,
                        error=repr(error),
                    )
                    failed += 1
                    if failed >= MAX_FAILURES:
                        return sent
            handled += len(batch)
            if handled >= MAX_PER_RUN:
                return sent
    return sent


def _batches(
    database: Database, keyring: Keyring, settings: Settings, now: datetime, days: int
) -> Iterator[list[DueReminder]]:
    """What is due at ``days``, a batch at a time; each batch read after the last was
    recorded, so none comes twice. Stops at a batch that recorded nothing new (whatever
    keeps a row from being written is left to the next run)."""
    seen: set[tuple[int, datetime]] = set()
    while True:
        with open_unit(database, keyring, settings, now, actor="worker") as unit:
            batch = unit.reminders.due(days)
        fresh = [due for due in batch if (due.license_id, due.term_end) not in seen]
        if not fresh:
            return
        seen.update((due.license_id, due.term_end) for due in fresh)
        yield fresh
        if len(batch) < BATCH:
            return


class DueReminders:
    """``run_due`` as the worker runs it, every REMINDERS_EVERY (licensor/worker.py)."""

    def __init__(self, database: Database, keyring: Keyring, settings: Settings) -> None:
        self.database = database
        self.keyring = keyring
        self.settings = settings

    def __call__(self, moment: datetime) -> int:
        sent = run_due(self.database, self.keyring, self.settings, moment)
        if sent:
            log.info("licensing.expiry_reminders_sent", count=sent)
        return sent
