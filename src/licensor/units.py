"""What every domain service holds: one unit of work (docs/adr/0001)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from licensor.config import Settings
from licensor.keys import Keyring


class Service:
    """Rules bound to one open transaction, the keys, the settings and one moment."""

    def __init__(self, session: Session, keyring: Keyring, settings: Settings, now: datetime):
        self.session = session
        self.keyring = keyring
        self.settings = settings
        self.now = now
