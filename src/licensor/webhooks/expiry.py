"""``license.expiring`` and ``license.expired``: found by a periodic scan of
``licensor worker``, as the expiry reminders are (store/reminder_scan.py), since no
request causes them: time does.

Each run looks at the licenses whose moment came since the last run: those now within
``LICENSOR_WEBHOOK_EXPIRING_DAYS`` of their end (still valid), and those that ended. A
worker just started looks back ``LOOKBACK`` (it may have been away). Each event is
emitted with ``once`` = the license and its term's end, so its ``webhook-id`` is the same
whoever finds it: it goes out once per license and term (a renewed term has another end,
and its own events), however often, and by however many workers, it is found.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from licensor.clock import isoformat
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.logging import log
from licensor.models import License, Plan
from licensor.units import UnitOfWork, open_unit
from licensor.webhooks.events import emit, takers

EXPIRY_EVERY = timedelta(minutes=5)
LOOKBACK = timedelta(days=7)
BATCH = 500


class ExpiryScan:
    """The periodic task (licensor/worker.py): emits what came due since its last run."""

    def __init__(self, database: Database, keyring: Keyring, settings: Settings) -> None:
        self.database = database
        self.keyring = keyring
        self.settings = settings
        self.last: datetime | None = None

    def __call__(self, now: datetime) -> int:
        since = self.last if self.last is not None and self.last <= now else now - LOOKBACK
        ahead = timedelta(days=self.settings.webhook_expiring_days)
        emitted = 0
        with open_unit(self.database, self.keyring, self.settings, now, actor="worker") as unit:
            if takers(unit, "license.expiring"):
                # Within ``ahead`` of the end since the last run, and not ended yet.
                window = (max(since + ahead, now), now + ahead)
                emitted += _emit(unit, "license.expiring", window)
            if takers(unit, "license.expired"):
                emitted += _emit(unit, "license.expired", (since, now))
        self.last = now
        if emitted:
            log.info("webhooks.expiry_scan", emitted=emitted)
        return emitted


def _emit(unit: UnitOfWork, event_type: str, window: tuple[datetime, datetime]) -> int:
    """Emit ``event_type`` for the unblocked licenses ending in ``(start, end]``, a batch
    at a time (a backlog after a worker was away)."""
    start, end = window
    emitted = 0
    while start < end:
        rows = unit.session.execute(
            select(License.id, License.public_id, License.expires_at, Plan.code)
            .join(Plan, Plan.id == License.plan_id)
            .where(
                License.expires_at > start,
                License.expires_at <= end,
                License.blocked_at.is_(None),
            )
            .order_by(License.expires_at)
            .limit(BATCH)
        ).all()
        for license_id, public_id, expires_at, plan in rows:
            data = {"public_id": public_id, "plan": plan, "expires_at": isoformat(expires_at)}
            once = f"{license_id}:{isoformat(expires_at)}"
            emitted += emit(unit, event_type, data, once=once)
        if len(rows) < BATCH:
            break
        start = rows[-1].expires_at
    return emitted
