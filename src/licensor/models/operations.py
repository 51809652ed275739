"""What hosts share so that any of them can serve any request: the check values of the
keys in use (licensor/keychecks.py) and the screenshots' encrypted contents
(support/attachments.py). Both live in the database, the one thing hosts share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from licensor.models.base import Base, Id, IdMixin, UTCDateTime


class KeyCheck(IdMixin, Base):
    """A keyed check value of one key, written by the first host that used it: a host
    whose keys give other values was started with other keys and must not serve."""

    __tablename__ = "key_checks"
    __table_args__ = (UniqueConstraint("kind", "key_id", name="uq_key_checks_kind_key_id"),)

    kind: Mapped[str] = mapped_column(String(20))  # "encryption", "blind_index", "signing"
    key_id: Mapped[str] = mapped_column(String(100))
    check_value: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AttachmentContent(Base):
    """The encrypted bytes of one attachment, apart from its row so that lists of
    attachments never load them."""

    __tablename__ = "attachment_contents"

    attachment_id: Mapped[int] = mapped_column(
        Id, ForeignKey("support_attachments.id", ondelete="CASCADE"), primary_key=True
    )
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
