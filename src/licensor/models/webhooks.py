"""Webhooks to the vendor's own systems (Standard Webhooks): the endpoints, and each
event's delivery to each, an outbox of its own (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from licensor.models.base import Base, IdMixin, Leased, UTCDateTime


class WebhookEndpoint(IdMixin, Base):
    """A vendor's system that receives events (Standard Webhooks): its URL, the events it
    takes (empty: all) and its signing secret, encrypted at rest (shown once, at
    creation)."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # After a rotation the old secret still signs, beside the new one, until
    # ``previous_secret_until``: the receiver has time to switch.
    previous_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200), default="", server_default="")
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Leased, Base):
    """One event for one endpoint, written with the change that caused it and delivered by
    ``licensor worker`` under a lease, retried with backoff, at least once; its
    ``message_id`` is the ``webhook-id`` every attempt carries."""

    __tablename__ = "webhook_deliveries"

    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(60))
    payload_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)  # the JSON body
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_status: Mapped[int | None] = mapped_column(Integer)
