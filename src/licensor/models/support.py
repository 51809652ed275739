"""Support requests, their thread of messages and notes, and screenshot attachments (the
jobs that read license keys from them are in models/jobs.py).

Relationships are ``lazy="raise"``: whoever reads a request's thread or screenshots loads
them with it (``selectinload``), so a page never runs a query per row by accident."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from licensor.models.base import Base, EnumText, IdMixin, UTCDateTime


class Topic(StrEnum):
    RECOVER_CARD_CODE = "recover_card_code"  # a printed card is lost: a screenshot helps
    RECOVER_ONLINE_CODE = "recover_online_code"  # bought online, the mail is gone
    MISSING_PURCHASE = "missing_purchase"  # a purchase that My Account does not show (F7)
    OTHER = "other"


class RequestStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"  # on the customer
    SOLVED = "solved"


class Author(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"  # an agent's action on the desk, recorded on the thread (internal)


class OcrStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class SupportRequest(IdMixin, Base):
    """One customer's request. The customer follows it through a link whose token is
    stored hashed; agents work it at /desk."""

    __tablename__ = "support_requests"

    number: Mapped[str] = mapped_column(String(20), unique=True)  # non-sequential
    topic: Mapped[Topic] = mapped_column(EnumText(Topic, 30), index=True)
    status: Mapped[RequestStatus] = mapped_column(
        EnumText(RequestStatus), default=RequestStatus.NEW, index=True
    )
    language: Mapped[str] = mapped_column(String(5), default="en")
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(320), index=True)  # lower-cased
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    purchase_date: Mapped[date | None] = mapped_column(Date)
    order_number: Mapped[str] = mapped_column(String(60), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    access_token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    messages: Mapped[list[SupportMessage]] = relationship(
        back_populates="request", order_by="SupportMessage.id", lazy="raise"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="request", order_by="Attachment.id", lazy="raise"
    )


class SupportMessage(IdMixin, Base):
    """A message in a request's thread: the customer's, an agent's reply, or an agent's
    internal note (never shown to the customer)."""

    __tablename__ = "support_messages"

    request_id: Mapped[int] = mapped_column(ForeignKey("support_requests.id"), index=True)
    author: Mapped[Author] = mapped_column(EnumText(Author))
    author_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    request: Mapped[SupportRequest] = relationship(back_populates="messages", lazy="raise")


class Attachment(IdMixin, Base):
    """A screenshot, decoded and re-encoded (no metadata survives); its bytes are kept
    encrypted apart, in ``attachment_contents`` (support/attachments.py), so that lists
    never load them. What OCR read from it is encrypted too: it may hold a license key."""

    __tablename__ = "support_attachments"

    request_id: Mapped[int] = mapped_column(ForeignKey("support_requests.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("support_messages.id"))
    storage_name: Mapped[str] = mapped_column(String(100), unique=True)
    filename: Mapped[str] = mapped_column(String(200))  # as the customer named it, cleaned
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ocr_status: Mapped[OcrStatus] = mapped_column(EnumText(OcrStatus), default=OcrStatus.PENDING)
    ocr_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)  # JSON {text, key}
    ocr_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    ocr_error: Mapped[str | None] = mapped_column(Text)
    ocr_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    request: Mapped[SupportRequest] = relationship(back_populates="attachments", lazy="raise")


class LicenseProof(IdMixin, Base):
    """A signed license proof the app exported, sent with a request instead of (or beside)
    a screenshot: kept encrypted (it holds a license key) with what its check found."""

    __tablename__ = "support_proofs"

    request_id: Mapped[int] = mapped_column(ForeignKey("support_requests.id"), index=True)
    proof_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The license it proved, when both signatures held; else why not.
    license_id: Mapped[int | None] = mapped_column(ForeignKey("licenses.id"), index=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verify_error: Mapped[str | None] = mapped_column(String(60))


class ApprovalState(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"  # by the order's own address, through the mailed link
    APPROVED = "approved"  # by a second staff member on the desk
    DECLINED = "declined"  # by the order's own address: it did not ask
    EXPIRED = "expired"  # nobody confirmed or approved in time


class AttachApproval(IdMixin, Base):
    """An order or a code an agent asked to join to a customer's account while it is
    someone else's of record (F7). Nothing moves until the order's own address confirms
    through the mailed link (the token stored hashed, single-use) or a staff member other
    than the one who asked approves it on the desk."""

    __tablename__ = "attach_approvals"

    request_id: Mapped[int] = mapped_column(ForeignKey("support_requests.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))  # joined to it
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("activation_codes.id"), index=True)
    # The address asked to confirm; None when nobody of record can be (staff approve).
    owner_email: Mapped[str | None] = mapped_column(String(320))
    token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    state: Mapped[ApprovalState] = mapped_column(
        EnumText(ApprovalState), default=ApprovalState.PENDING, index=True
    )
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))  # staff
    decision_reason: Mapped[str | None] = mapped_column(Text)

    request: Mapped[SupportRequest] = relationship(lazy="raise")
