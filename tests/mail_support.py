"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for mail tests."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import free_port


class Inbox:
    """Messages received by the server, parsed; thread-safe."""

    def __init__(self) -> None:
        self._messages: list[EmailMessage] = []
        self._condition = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._condition:
            self._messages.append(parsed)
            self._condition.notify_all()
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._condition:
            return list(self._messages)

    def wait_for(
        self, predicate: Callable[[EmailMessage], bool], timeout: float = 20
    ) -> EmailMessage:
        """The first message matching ``predicate``, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for message in self._messages:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    subjects = [str(m["Subject"]) for m in self._messages]
                    raise TimeoutError(f"no matching message; received: {subjects}")
                self._condition.wait(remaining)

    def to(self, address: str, subject_contains: str = "", timeout: float = 20) -> EmailMessage:
        return self.wait_for(
            lambda m: str(m["To"]) == address and subject_contains in str(m["Subject"]),
            timeout,
        )


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


class SmtpServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
