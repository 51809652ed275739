from __future__ import annotations

from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import enqueue
from tests.mail_support import SmtpServer, text_of


def test_a_queued_message_reaches_the_smtp_server(
    database: Database, keyring: Keyring, clock: Clock, mail_worker: SmtpServer
) -> None:
    with database.transaction() as session:
        message = enqueue(
            session,
            keyring,
            clock.now(),
            to="ann@example.com",
            template="reset_password",
            language="it",
            context={"product": "Licensor", "link": "http://x/reset", "hours": 1},
        )
        message_id = message.message_id
    received = mail_worker.inbox.to("ann@example.com")
    assert received["Message-ID"] == message_id
    assert received["Subject"] == "Reimposta la password"
    assert "http://x/reset" in text_of(received)
