"""Plans, card batches, activation codes, licenses, devices and activations (seats).

Relationships are ``lazy="raise"``: whoever needs a code's plan or license, a license's
plan or code, or a seat's device loads it with the row (``CODE_WITH_LICENSE`` in
licensing/codes.py, ``LICENSE_WITH_CODE`` in licensing/licenses.py, or ``joinedload``), so
no page or answer runs a query per row by accident."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from licensor.models.base import Base, EnumText, IdMixin, UTCDateTime


class CodeState(StrEnum):
    ISSUED = "issued"
    ACTIVE = "active"
    EXPIRED = "expired"
    BLOCKED = "blocked"


class CodeOrigin(StrEnum):
    STORE_ORDER = "store_order"
    PARTNER_ORDER = "partner_order"
    CARD_BATCH = "card_batch"
    MANUAL = "manual"


class LicenseStatus(StrEnum):
    """What a license is to a device, as validation and activation answer it; only
    ``blocked``, ``expired`` and ``active`` follow from the license row alone."""

    ACTIVE = "active"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    RELEASED = "released"
    NOT_ACTIVATED = "not_activated"
    UNKNOWN = "unknown"
    # A floating license's device holds its seat but no live lease (licensing/leases.py).
    LEASE_EXPIRED = "lease_expired"


class Plan(IdMixin, Base):
    __tablename__ = "plans"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    term_days: Mapped[int] = mapped_column(Integer)
    devices_max: Mapped[int] = mapped_column(Integer)
    entitlements: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Prices in the store, in cents; null: not sold there (cards and partners only).
    price_cents: Mapped[int | None] = mapped_column(Integer)
    subscription_price_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Retired: off the store, no new codes or orders; its licenses keep working.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Transfer limit: how many times a license's seats may be freed and taken again by
    # another device within ``transfer_period_days`` (null: no limit).
    transfer_limit: Mapped[int | None] = mapped_column(Integer)
    transfer_period_days: Mapped[int | None] = mapped_column(Integer)
    # Floating (concurrent) licensing: when set, ``devices_max`` counts leases held at
    # once, each this many seconds long unless renewed, instead of devices (null: seats).
    lease_seconds: Mapped[int | None] = mapped_column(Integer)


class Batch(IdMixin, Base):
    """A run of ``codes issue``: what was asked, so a printer's file can be traced back.
    A batch with a partner is that partner's allocation: codes it sells and records.
    Its codes, like those of a card batch marked ``sold_at_till``, activate only once
    their sale is recorded (docs/partners.md): a stolen, unsold card is worth nothing."""

    __tablename__ = "batches"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    origin: Mapped[CodeOrigin] = mapped_column(EnumText(CodeOrigin))
    label: Mapped[str] = mapped_column(String(200), default="")
    count: Mapped[int] = mapped_column(Integer)
    sold_at_till: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How many of ``count`` exist so far: a batch issued in the background (the console)
    # fills up while its page shows the progress; a finished one has all.
    issued_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The printer's CSV is handed out once (who and when, audited too).
    csv_downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csv_downloaded_by: Mapped[str | None] = mapped_column(String(200))
    # Blocked whole (a grey-market batch): every code of it refuses to activate.
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_reason: Mapped[str | None] = mapped_column(Text)

    plan: Mapped[Plan] = relationship(lazy="raise")

    @property
    def needs_sale(self) -> bool:
        """Whether a code of this batch activates only once its sale is recorded."""
        return self.partner_id is not None or self.sold_at_till


class UsageDay(Base):
    """A count a day, for the console's dashboard (``validations``, …): validations are
    answered without a write, so their count is added by the writer of last-seen times."""

    __tablename__ = "usage_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ActivationCode(IdMixin, Base):
    """A code as sold; never stored in clear: ciphertext plus a keyed blind index."""

    __tablename__ = "activation_codes"

    code_index: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    code_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    origin: Mapped[CodeOrigin] = mapped_column(EnumText(CodeOrigin))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[CodeState] = mapped_column(EnumText(CodeState), default=CodeState.ISSUED)
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A reserve code: entered while ``reserved_for_id``'s license was active, it extends
    # that license's term from ``reserve_starts_at`` (the term's end when it was entered);
    # withdrawn before then, it is a code like any other again.
    reserved_for_id: Mapped[int | None] = mapped_column(
        ForeignKey("licenses.id", use_alter=True), index=True
    )
    reserved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reserve_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    plan: Mapped[Plan] = relationship(lazy="raise")
    license: Mapped[License | None] = relationship(
        back_populates="activation_code", lazy="raise", foreign_keys="License.code_id"
    )


class License(IdMixin, Base):
    """What a code becomes at first activation; its term starts then."""

    __tablename__ = "licenses"

    public_id: Mapped[str] = mapped_column(String(20), unique=True)
    key_index: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("activation_codes.id"), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # reminders' scan
    blocked_reason: Mapped[str | None] = mapped_column(Text)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the dashboard
    # The owner unsubscribed from this license's expiry reminders.
    reminders_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # This license's own device limit, set by an admin after purchase (null: the plan's).
    devices_max: Mapped[int | None] = mapped_column(Integer)
    # Transfers support granted beyond the plan's limit.
    extra_transfers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    plan: Mapped[Plan] = relationship(lazy="raise")
    activation_code: Mapped[ActivationCode | None] = relationship(
        back_populates="license", lazy="raise", foreign_keys=[code_id]
    )


class Device(IdMixin, Base):
    __tablename__ = "devices"

    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(200))  # as the app reports it
    # The name the owner gave it in My Account; shown instead of ``name`` when set.
    display_name: Mapped[str | None] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(100))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The hashed parts the fingerprint was built from ({name: hash}), when the SDK sent
    # them: a device with one part changed (a new network card) is still this device.
    components: Mapped[dict[str, str] | None] = mapped_column(JSON)


class Activation(IdMixin, Base):
    """A seat: license x device. Active while ``released_at`` is null."""

    __tablename__ = "activations"
    __table_args__ = (
        Index(
            "uq_activations_active_seat",
            "license_id",
            "device_id",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the dashboard
    last_validated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(20))
    # Taken through a family share (the owner's revoking it frees this seat).
    share_id: Mapped[int | None] = mapped_column(ForeignKey("license_shares.id"), index=True)
    # The device's own Ed25519 public key (32 bytes), sent at activation: it verifies the
    # license proof the app exports for support.
    device_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    license: Mapped[License] = relationship(lazy="raise")
    device: Mapped[Device] = relationship(lazy="raise")


class Lease(IdMixin, Base):
    """A floating license's lease: license x device, held until ``expires_at`` unless
    renewed by heartbeat; one row per pair, taken again after it lapses or is freed."""

    __tablename__ = "leases"
    __table_args__ = (UniqueConstraint("license_id", "device_id", name="uq_leases_license_device"),)

    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    checked_out_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(20))

    license: Mapped[License] = relationship(lazy="raise")
    device: Mapped[Device] = relationship(lazy="raise")


class LicenseShare(IdMixin, Base):
    """A seat of a license shared with family: invited by email with a one-time link
    (``token_hash``), accepted into the invitee's own account, revoked by the owner."""

    __tablename__ = "license_shares"

    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), index=True)
    owner_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the invitation's
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))

    license: Mapped[License] = relationship(lazy="raise")


class SeatReleaseToken(IdMixin, Base):
    """A one-time link mailed to a license's owner (or its order's address) when an
    activation met the device limit: it frees a seat without signing in."""

    __tablename__ = "seat_release_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ExpiryReminder(IdMixin, Base):
    """An expiry reminder sent: one per license, term end and days-before, never twice."""

    __tablename__ = "expiry_reminders"
    __table_args__ = (
        UniqueConstraint(
            "license_id", "expires_at", "days", name="uq_expiry_reminders_license_term_days"
        ),
    )

    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    days: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
