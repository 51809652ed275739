"""Background jobs (docs/adr/0004): any domain's work written in the transaction that asks
for it, done by ``licensor worker`` (licensor/jobs.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from licensor.models.base import Base, Leased, UTCDateTime


class Job(Leased, Base):
    """One job of a ``kind`` (its handler) with a JSON ``payload``: claimed under a lease,
    retried with backoff, done at least once."""

    __tablename__ = "jobs"

    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
