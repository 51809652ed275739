"""Partners and their API keys, orders and their items, subscriptions and enrollment tokens.

Relationships never load unasked (``lazy="raise"``): a query that needs an order's items or
partner, or a subscription's plan, says so (``store.orders.ORDER_IN_FULL``, ``selectinload``),
so a hidden query per row is an error in the tests, not a surprise in production.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from licensor.models.base import Base, EnumText, IdMixin, UTCDateTime
from licensor.models.licensing import Plan


class Channel(StrEnum):
    STORE = "store"
    PARTNER = "partner"


class ItemKind(StrEnum):
    CODE = "code"
    SUBSCRIPTION = "subscription"


class OrderStatus(StrEnum):
    PENDING = "pending"  # checkout started, not paid
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"  # no renewal; still good until the period ends
    EXPIRED = "expired"


class Partner(IdMixin, Base):
    """A reseller: where customers who bought from it are sent to recover a code."""

    __tablename__ = "partners"

    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    url: Mapped[str] = mapped_column(String(500))
    phone: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PartnerApiKey(IdMixin, Base):
    """A partner's key for the partner API; only a hash is kept, the key is shown once."""

    __tablename__ = "partner_api_keys"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(20), unique=True)  # shown in lists and logs
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    partner: Mapped[Partner] = relationship(lazy="raise")


class Order(IdMixin, Base):
    """A sale: in our store, or recorded by the partner who made it."""

    __tablename__ = "orders"
    __table_args__ = (
        # Our numbers are unique among ours; a partner's among that partner's.
        Index(
            "uq_orders_store_number",
            "number_key",
            unique=True,
            sqlite_where=text("partner_id IS NULL"),
            postgresql_where=text("partner_id IS NULL"),
        ),
        Index("uq_orders_partner_number", "partner_id", "number_key", unique=True),
        # An order placed in a merchant-of-record store (Paddle, Lemon Squeezy,
        # FastSpring) is ours once, whatever its webhooks repeat.
        Index("uq_orders_provider_order", "provider", "provider_order_id", unique=True),
    )

    number: Mapped[str] = mapped_column(String(60))
    number_key: Mapped[str] = mapped_column(String(60), index=True)  # normalised, for lookup
    channel: Mapped[Channel] = mapped_column(EnumText(Channel))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    status: Mapped[OrderStatus] = mapped_column(
        EnumText(OrderStatus), default=OrderStatus.PAID, index=True
    )
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # dashboard, lists
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_email: Mapped[str] = mapped_column(String(320), index=True)  # lower-cased
    language: Mapped[str] = mapped_column(String(5), default="en")
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_cents: Mapped[int] = mapped_column(Integer, default=0)  # tax included
    tax_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The browser that paid holds the token (a cookie) whose hash is here: the thanks page
    # shows it the codes, once (``codes_shown_at``).
    thanks_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    codes_shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_reference: Mapped[str | None] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Who took the money, when not the store's own checkout's provider alone: "stripe",
    # "paddle", "lemonsqueezy", "fastspring"; their order and payment ids (a refund is
    # made, or matched, by them).
    provider: Mapped[str | None] = mapped_column(String(40))
    provider_order_id: Mapped[str | None] = mapped_column(String(200))
    provider_payment_id: Mapped[str | None] = mapped_column(String(200), index=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    refund_reason: Mapped[str | None] = mapped_column(Text)

    partner: Mapped[Partner | None] = relationship(lazy="raise")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", lazy="raise"
    )


class OrderItem(IdMixin, Base):
    __tablename__ = "order_items"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    kind: Mapped[ItemKind] = mapped_column(EnumText(ItemKind))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="items", lazy="raise")
    plan: Mapped[Plan] = relationship(lazy="raise")


class Subscription(IdMixin, Base):
    """A plan bought to renew, bound to an account; its license needs no code."""

    __tablename__ = "subscriptions"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    license_id: Mapped[int | None] = mapped_column(ForeignKey("licenses.id"), unique=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        EnumText(SubscriptionStatus), default=SubscriptionStatus.ACTIVE
    )
    auto_renew: Mapped[bool] = mapped_column(default=True)
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_reference: Mapped[str | None] = mapped_column(String(100))
    # How the provider describes the card it charges ("Visa ending 4242"), for the page.
    payment_method: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A subscription the provider bills itself (Stripe Billing): its id there; its
    # invoices' webhooks renew it, and the worker charges nothing.
    provider: Mapped[str | None] = mapped_column(String(40))
    provider_subscription_id: Mapped[str | None] = mapped_column(String(200), unique=True)

    plan: Mapped[Plan] = relationship(lazy="raise")


class PaymentEvent(IdMixin, Base):
    """A provider's webhook event, acted on once: its id is unique per provider, so a
    delivery repeated (or two at once) finds it done (docs/payments.md)."""

    __tablename__ = "payment_events"
    __table_args__ = (Index("uq_payment_events_event", "provider", "event_id", unique=True),)

    provider: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EnrollmentToken(IdMixin, Base):
    """One-time token carried by the installer from My Account: the app redeems it once."""

    __tablename__ = "enrollment_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
