"""Answers of API requests sent with an ``Idempotency-Key``, kept 24 hours
(licensor/idempotency.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from licensor.models.base import Base, IdMixin, UTCDateTime


class IdempotencyKey(IdMixin, Base):
    """One key's request and, once answered, its answer (encrypted: it may carry a license
    key). The key itself is not kept, only a hash of it with the route and the caller."""

    __tablename__ = "idempotency_keys"

    scope_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    state: Mapped[str] = mapped_column(String(12))  # "running" or "done"
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A "running" row whose request died with its process is taken over after this.
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
