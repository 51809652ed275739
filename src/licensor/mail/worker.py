"""``licensor worker``: sends the outbox, at least once, with retries and backoff.

A batch is claimed with a lease (``claimed_until``) in one short transaction, then each
message is sent and marked in a transaction of its own. A worker killed mid-batch loses
nothing: its unmarked messages are claimed again when the lease runs out, and resent
with the same Message-ID.

The worker also runs other domains' periodic tasks (``periodic``: subscription renewals,
from ``licensor.store.tasks``), each on every loop before the mail; a task keeps its own
pace and its own transactions, and one that fails is logged and tried again next loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from licensor.db import Database
from licensor.logging import log
from licensor.mail.sender import Sender
from licensor.models import OutboxMessage

#: A periodic task called by the worker on each loop; it decides itself whether it is due.
Periodic = Callable[[], object]

OUTBOX_ONLY = "mail.outbox_only"
OUTBOX_ONLY_HINT = "LICENSOR_SMTP_URL is unset: mail waits in the outbox until it is set"

MAX_ATTEMPTS = 12
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), LONGEST_RETRY_SECONDS))


def claim(database: Database, now: datetime, *, batch: int, lease: timedelta) -> list[int]:
    """Take up to ``batch`` due messages for this worker; others skip them."""
    with database.transaction() as session:
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.failed_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
            )
            .order_by(OutboxMessage.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        messages = list(session.scalars(query))
        for message in messages:
            message.claimed_until = now + lease
        return [message.id for message in messages]


def deliver(database: Database, sender: Sender, message_id: int, now: datetime) -> bool:
    """Send one claimed message and record the outcome; True when it went out."""
    with database.transaction() as session:
        message = session.get(OutboxMessage, message_id)
        if message is None or message.sent_at is not None:
            return False
        session.expunge(message)
    try:
        sender.send(message)
    except Exception as error:
        with database.transaction() as session:
            stored = session.get_one(OutboxMessage, message_id)
            stored.attempts += 1
            stored.claimed_until = None
            stored.last_error = f"{type(error).__name__}: {error}"[:2000]
            if stored.attempts >= MAX_ATTEMPTS:
                stored.failed_at = now
                log.error("mail.failed", message=message_id, attempts=stored.attempts)
            else:
                stored.next_attempt_at = now + backoff(stored.attempts)
                log.warning(
                    "mail.retry",
                    message=message_id,
                    attempts=stored.attempts,
                    error=stored.last_error,
                )
        return False
    with database.transaction() as session:
        stored = session.get_one(OutboxMessage, message_id)
        stored.attempts += 1
        stored.sent_at = now
        stored.claimed_until = None
        stored.last_error = None
    log.info("mail.sent", message=message_id, template=message.template)
    return True


def run_once(
    database: Database,
    sender: Sender,
    now: Callable[[], datetime],
    *,
    batch: int = 50,
    lease: timedelta = timedelta(minutes=5),
) -> int:
    """One pass over what is due; returns how many messages went out."""
    sent = 0
    for message_id in claim(database, now(), batch=batch, lease=lease):
        sent += deliver(database, sender, message_id, now())
    return sent


def run_periodic(tasks: Sequence[Periodic]) -> None:
    """Each periodic task once; one that fails does not stop the others (or the mail)."""
    for task in tasks:
        try:
            task()
        except Exception as error:
            name = getattr(task, "__name__", type(task).__name__)
            log.error("worker.periodic_error", task=name, error=repr(error))


def run_forever(
    database: Database,
    sender: Sender | None,
    now: Callable[[], datetime],
    stop: threading.Event,
    *,
    idle_seconds: float = 2.0,
    batch: int = 50,
    lease: timedelta = timedelta(minutes=5),
    periodic: Sequence[Periodic] = (),
) -> None:
    """Loop until ``stop``; ``sender`` None (no SMTP) leaves the outbox alone: the mail
    waits there, unsent, until a worker with SMTP comes."""
    log.info("mail.worker_started")
    if sender is None:
        log.warning(OUTBOX_ONLY, hint=OUTBOX_ONLY_HINT)
    while not stop.is_set():
        run_periodic(periodic)  # first, so mail they write goes out in the same loop
        try:
            if sender is None or run_once(database, sender, now, batch=batch, lease=lease) == 0:
                stop.wait(idle_seconds)
        except Exception as error:  # keep the worker alive across database hiccups
            log.error("mail.worker_error", error=repr(error))
            stop.wait(idle_seconds)
    log.info("mail.worker_stopped")
