"""The transactional outbox: every outgoing message, written with the change that caused it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from licensor.models.base import Base, Leased, UTCDateTime


class OutboxMessage(Leased, Base):
    """One message, sent by ``licensor worker`` under a lease. Bodies are encrypted at
    rest: some carry activation codes."""

    __tablename__ = "outbox"

    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    template: Mapped[str] = mapped_column(String(60))
    language: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(Text)
    body_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)  # JSON {"text", "html"}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
