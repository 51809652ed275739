"""At least once, none lost: ``licensor worker`` killed mid-batch and restarted delivers
every message; an SMTP server that is down or refusing is retried with backoff."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.leases import FIRST_RETRY_SECONDS
from licensor.mail.delivery import send_due
from licensor.mail.outbox import enqueue
from licensor.mail.sender import SmtpSender
from licensor.models import OutboxMessage
from tests.cli_support import cli_environment, console_script
from tests.mail_support import Inbox, SmtpServer
from tests.support import free_port, wait_until

MESSAGES = 200
LEASE_SECONDS = 2


def _queue(
    database: Database, keyring: Keyring, clock: Clock, count: int, prefix: str = "reader"
) -> list[str]:
    """Queue ``count`` messages in one transaction; their Message-IDs."""
    with database.transaction() as session:
        queued = [
            enqueue(
                session,
                keyring,
                clock.now(),
                to=f"{prefix}-{number}@example.com",
                template="reset_password",
                language="en",
                context={"product": "Licensor", "link": f"http://x/reset/{number}", "hours": 1},
            )
            for number in range(count)
        ]
        session.flush()
        return [message.message_id for message in queued]


def _unsent(database: Database) -> int:
    with database.transaction() as session:
        return (
            session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))
            )
            or 0
        )


def _received_ids(inbox: Inbox) -> list[str]:
    return [str(message["Message-ID"]) for message in inbox.messages]


class SlowInbox(Inbox):
    """An inbox that takes a moment over each message, as a real server does."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class LoopbackSmtp:
    inbox: Inbox
    controller: Controller

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"


@contextmanager
def _smtp_server(inbox: Inbox) -> Iterator[LoopbackSmtp]:
    """A real SMTP server on loopback (aiosmtpd) with the given handler."""
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield LoopbackSmtp(inbox, controller)
    finally:
        controller.stop()


@pytest.fixture
def slow_smtp() -> Iterator[LoopbackSmtp]:
    with _smtp_server(SlowInbox()) as server:
        yield server


@contextmanager
def _worker(settings: Settings, smtp_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``licensor worker`` as a process of its own (its stderr to ``log``); killed if the
    test leaves it running."""
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)
    environment.update(LICENSOR_SMTP_URL=smtp_url, LICENSOR_MAIL_LEASE_SECONDS=str(LEASE_SECONDS))
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [str(console_script("licensor")), "worker", "--idle-seconds", "0.2"],
            env=environment,
            cwd=log.parent,  # away from the repository, so no .env file is read
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def test_a_worker_killed_mid_batch_and_restarted_loses_no_message(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    slow_smtp: LoopbackSmtp,
    tmp_path: Path,
) -> None:
    queued = _queue(database, keyring, clock, MESSAGES)
    inbox = slow_smtp.inbox

    with _worker(settings, slow_smtp.url, tmp_path / "first.log") as first:
        wait_until(lambda: len(inbox.messages) >= 20, "the first messages")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    delivered_before_restart = len(set(_received_ids(inbox)))
    assert delivered_before_restart < MESSAGES, "the worker finished before it could be killed"
    assert _unsent(database) > 0

    with _worker(settings, slow_smtp.url, tmp_path / "second.log") as second:
        wait_until(lambda: set(queued) <= set(_received_ids(inbox)), "every message")
        wait_until(lambda: _unsent(database) == 0, "the outbox to show every message sent")
        second.send_signal(signal.SIGTERM)  # and it stops cleanly when asked
        assert second.wait(timeout=30) == 0, (tmp_path / "second.log").read_text()

    received = _received_ids(inbox)
    assert set(received) == set(queued)  # none lost, nothing invented
    assert len(received) >= MESSAGES  # duplicates are allowed: at least once
    with database.transaction() as session:
        outbox = list(session.scalars(select(OutboxMessage)))
    assert len(outbox) == MESSAGES
    assert all(message.sent_at is not None for message in outbox)
    assert all(message.failed_at is None and message.last_error is None for message in outbox)


# --- retries ------------------------------------------------------------------------------------


def _stored(database: Database, message_id: str) -> OutboxMessage:
    with database.transaction() as session:
        return session.scalars(
            select(OutboxMessage).where(OutboxMessage.message_id == message_id)
        ).one()


def test_a_down_smtp_server_is_retried_with_backoff_until_it_is_up(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock
) -> None:
    (message_id,) = _queue(database, keyring, clock, 1)
    smtp = SmtpServer()  # not started yet: its port refuses connections
    sender = SmtpSender(smtp.url, keyring, settings.mail_from, timeout=5)

    assert send_due(database, sender, clock.now) == 0
    first = _stored(database, message_id)
    assert first.attempts == 1
    assert first.sent_at is None
    assert first.last_error is not None
    assert "Connection" in first.last_error
    first_wait = first.next_attempt_at - clock.now()
    assert first_wait >= timedelta(seconds=FIRST_RETRY_SECONDS - 1)

    assert send_due(database, sender, clock.now) == 0  # not due yet: left alone
    assert _stored(database, message_id).attempts == 1

    clock.advance(first_wait + timedelta(seconds=1))
    assert send_due(database, sender, clock.now) == 0
    second = _stored(database, message_id)
    assert second.attempts == 2
    second_wait = second.next_attempt_at - clock.now()
    assert second_wait > first_wait  # the wait grows

    smtp.start()
    try:
        clock.advance(second_wait + timedelta(seconds=1))
        assert send_due(database, sender, clock.now) == 1
        received = smtp.inbox.to("reader-0@example.com")
    finally:
        smtp.stop()
    assert received["Message-ID"] == message_id
    sent = _stored(database, message_id)
    assert sent.sent_at is not None
    assert sent.attempts == 3
    assert sent.last_error is None


class RefusingInbox(Inbox):
    """A server that answers "try again later" to the first ``refusals`` messages."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.refused_ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals > 0:
            self.refusals -= 1
            header = envelope.content.split(b"\r\n\r\n", 1)[0].decode()
            for line in header.splitlines():
                if line.lower().startswith("message-id:"):
                    self.refused_ids.append(line.split(":", 1)[1].strip())
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


def test_a_retried_message_keeps_its_message_id(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock
) -> None:
    (message_id,) = _queue(database, keyring, clock, 1)
    inbox = RefusingInbox(refusals=1)
    with _smtp_server(inbox) as smtp:
        sender = SmtpSender(smtp.url, keyring, settings.mail_from, timeout=5)
        assert send_due(database, sender, clock.now) == 0
        refused = _stored(database, message_id)
        assert refused.last_error is not None
        assert "451" in refused.last_error

        clock.advance(refused.next_attempt_at - clock.now() + timedelta(seconds=1))
        assert send_due(database, sender, clock.now) == 1
        received = inbox.to("reader-0@example.com")

    assert inbox.refused_ids == [message_id]
    assert received["Message-ID"] == message_id
