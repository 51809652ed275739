"""Sending the outbox, at least once, with retries and backoff (``licensor worker``).

Messages are claimed a few at a time under a lease (licensor/leases.py), then each is
sent and its outcome recorded in a transaction of its own. A worker killed mid-batch
loses nothing: its unsent messages are claimed again when the lease runs out, and resent
with the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from licensor.db import Database
from licensor.leases import Failure, LeasedTable
from licensor.logging import log
from licensor.mail.sender import Sender
from licensor.models import OutboxMessage

OUTBOX_ONLY = "mail.outbox_only"
OUTBOX_ONLY_HINT = "LICENSOR_SMTP_URL is unset: mail waits in the outbox until it is set"

MAX_ATTEMPTS = 12
BATCH = 10
LEASE = timedelta(minutes=5)

OUTBOX = LeasedTable(OutboxMessage, OutboxMessage.sent_at)


def claim(
    database: Database, now: datetime, *, batch: int = BATCH, lease: timedelta = LEASE
) -> list[OutboxMessage]:
    """Take up to ``batch`` due messages for this worker; others skip them."""
    return OUTBOX.claim(database, now, batch=batch, lease=lease)


def deliver(database: Database, sender: Sender, message: OutboxMessage, now: datetime) -> bool:
    """Send one claimed message and record the outcome; True when it went out."""
    try:
        sender.send(message)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"[:2000]
        last = message.attempts >= MAX_ATTEMPTS
        failure = OUTBOX.fail(database, message, now, reason, give_up=last)
        if failure == Failure.GIVEN_UP:
            log.error("mail.failed", message=message.id, attempts=message.attempts)
        elif failure == Failure.RETRY:
            log.warning("mail.retry", message=message.id, attempts=message.attempts, error=reason)
        return False
    OUTBOX.finish(database, message, now)
    log.info("mail.sent", message=message.id, template=message.template)
    return True


def send_due(
    database: Database,
    sender: Sender,
    now: Callable[[], datetime],
    *,
    batch: int = BATCH,
    lease: timedelta = LEASE,
) -> int:
    """Claim what is due (a batch at most) and send it; returns how many went out."""
    return sum(
        deliver(database, sender, message, now())
        for message in claim(database, now(), batch=batch, lease=lease)
    )
