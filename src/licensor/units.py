"""What every domain service holds: one unit of work (docs/adr/0001)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from licensor.config import Settings
from licensor.keys import Keyring
from licensor.mail.outbox import enqueue


class Service:
    """Rules bound to one open transaction, the keys, the settings and one moment."""

    def __init__(self, session: Session, keyring: Keyring, settings: Settings, now: datetime):
        self.session = session
        self.keyring = keyring
        self.settings = settings
        self.now = now

    def send_mail(self, to: str, language: str, template: str, **context: Any) -> None:
        """Queue a mail in this unit of work, with the product's name in its context and
        a Message-ID of our sending domain."""
        enqueue(
            self.session,
            self.keyring,
            self.now,
            to=to,
            template=template,
            language=language,
            context={"product": self.settings.product_name, **context},
            sender_domain=self.settings.mail_domain,
        )
