"""The audit trail: every disclosure of a code, every administrative action and every
authentication event, append-only and chained (licensor/audit.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from licensor.models.base import Base, Id, IdMixin, UTCDateTime


class AuditEvent(IdMixin, Base):
    """Who did what, when and why. Rows are only ever inserted (the database refuses
    UPDATE and DELETE); each carries its place in the chain and a keyed hash over itself
    and the row before it, so ``licensor audit verify`` finds an edited or deleted row."""

    __tablename__ = "audit_events"
    # A license's history on its page reads the rows about it and its codes.
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)  # the console's filter
    action: Mapped[str] = mapped_column(String(80), index=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int | None] = mapped_column(Id)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # None only on rows written before the chain began (revision 0008).
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chain_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class AuditChain(Base):
    """The chain's head, one row: the last sequence number and hash, and a keyed MAC over
    both, so removing the newest rows (and rolling the head back) is found too."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    mac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
