"""The back office's view of orders: find them by number, email, status, channel, partner,
provider and date, newest first a page at a time; read one whole (items, totals, codes
masked, the account, the provider's events, the refund).

The console's orders pages and ``licensor orders list|show`` both read through here.
Pages are keyset pages along the primary key (newest first), so a page costs the same at
the millionth order as at the first; filters on the number, the email, the partner, the
status and the day have indexes the database may ride instead, the others (channel,
provider) narrow that walk, which stops once a page holds enough rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy import Select, select

from licensor.accounts.service import normalize_email
from licensor.errors import FormInvalid, OrderUnknown, ValidationFailed
from licensor.licensing import formats
from licensor.models import (
    Account,
    ActivationCode,
    Channel,
    CodeState,
    Order,
    OrderStatus,
    Partner,
    PaymentEvent,
    Subscription,
)
from licensor.store.orders import ORDER_IN_FULL, order_number_key
from licensor.units import Service

PAGE_SIZE = 50
TEST_PROVIDER = "test"
# Stores that sold as the merchant of record: the refund is made in their dashboard, and
# their refund webhook blocks the codes here.
MERCHANTS_OF_RECORD = {
    "paddle": "Paddle",
    "lemonsqueezy": "Lemon Squeezy",
    "fastspring": "FastSpring",
}
PROVIDERS = (TEST_PROVIDER, "stripe", *MERCHANTS_OF_RECORD)


class RefundWay(StrEnum):
    """How a refund of this order is made, if it can be."""

    PROVIDER = "provider"  # paid in our checkout: the provider gives the money back
    RECORD = "record"  # a partner's sale, or entered by hand: the money went back elsewhere
    ELSEWHERE = "elsewhere"  # a merchant-of-record store: refunded in its dashboard
    NONE = "none"  # not paid (pending, failed) or refunded already


def refund_way(order: Order, provider_name: str) -> RefundWay:
    """How this order's refund is made when the app's payment provider is ``provider_name``."""
    if order.status != OrderStatus.PAID:
        return RefundWay.NONE
    if order.provider in MERCHANTS_OF_RECORD:
        return RefundWay.ELSEWHERE
    if order.partner_id is not None or (
        order.payment_reference is None and order.provider_payment_id is None
    ):
        return RefundWay.RECORD
    if order.provider is not None and order.provider != provider_name:
        # Paid through a provider this installation no longer uses: its dashboard refunds.
        return RefundWay.ELSEWHERE
    return RefundWay.PROVIDER


@dataclass(frozen=True)
class OrderFilters:
    """What the list is narrowed to; empty fields narrow nothing."""

    number: str = ""
    email: str = ""
    status: str = ""
    channel: str = ""
    partner: str = ""  # a partner's slug
    provider: str = ""
    since: str = ""  # ISO dates, both days included
    until: str = ""

    def problems(self) -> dict[str, str]:
        """Each field whose value cannot narrow the list, with the problem's key."""
        errors: dict[str, str] = {}
        if self.status and self.status not in set(OrderStatus):
            errors["status"] = "choice_invalid"
        if self.channel and self.channel not in set(Channel):
            errors["channel"] = "choice_invalid"
        if self.provider and self.provider not in PROVIDERS:
            errors["provider"] = "choice_invalid"
        for name in ("since", "until"):
            if getattr(self, name) and _day(getattr(self, name)) is None:
                errors[name] = "date_invalid"
        return errors


@dataclass(frozen=True)
class OrderRow:
    id: int
    number: str
    purchased_at: datetime
    customer_name: str
    customer_email: str
    status: str
    channel: str
    partner: str | None  # slug
    provider: str
    total_cents: int
    currency: str


@dataclass(frozen=True)
class OrderPage:
    rows: list[OrderRow]
    next_before: int | None  # the keyset of the next (older) page, if there is one


@dataclass(frozen=True)
class CodeLine:
    id: int
    masked: str
    state: str
    plan: str


@dataclass
class OrderDetail:
    order: Order  # with its items, their plans and its partner
    provider: str
    codes: list[CodeLine] = field(default_factory=list)
    events: list[PaymentEvent] = field(default_factory=list)
    account_email: str | None = None
    subscription: Subscription | None = None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def provider_of(order: Order) -> str:
    """Who took the money: the provider's name, ``test`` for the built-in one, "" for an
    order entered by hand (or recorded by a partner)."""
    if order.provider:
        return order.provider
    return TEST_PROVIDER if order.payment_reference else ""


class OrderAdmin(Service):
    def search(
        self, filters: OrderFilters, *, before: int | None = None, limit: int = PAGE_SIZE
    ) -> OrderPage:
        """A page of orders matching ``filters``, newest first, older than the order with
        id ``before`` when given. ``FormInvalid`` names a filter that cannot apply."""
        if errors := filters.problems():
            raise FormInvalid(errors)
        query = self._filtered(filters)
        if before is not None:
            query = query.where(Order.id < before)
        rows = self.session.execute(query.order_by(Order.id.desc()).limit(limit + 1)).all()
        page = [
            OrderRow(
                order.id,
                order.number,
                order.purchased_at,
                order.customer_name,
                order.customer_email,
                order.status,
                order.channel,
                slug,
                provider_of(order),
                order.total_cents,
                order.currency,
            )
            for order, slug in rows[:limit]
        ]
        return OrderPage(page, page[-1].id if len(rows) > limit else None)

    def _filtered(self, filters: OrderFilters) -> Select[Order, str]:
        query = select(Order, Partner.slug).outerjoin(Partner, Partner.id == Order.partner_id)
        if filters.number.strip():
            query = query.where(Order.number_key == order_number_key(filters.number))
        if filters.email.strip():
            query = query.where(Order.customer_email == normalize_email(filters.email))
        if filters.status:
            query = query.where(Order.status == OrderStatus(filters.status))
        if filters.channel:
            query = query.where(Order.channel == Channel(filters.channel))
        if filters.partner.strip():
            partner = self.unit.partners.by_slug(filters.partner)
            query = query.where(Order.partner_id == partner.id)
        if filters.provider == TEST_PROVIDER:
            query = query.where(Order.provider.is_(None), Order.payment_reference.is_not(None))
        elif filters.provider:
            query = query.where(Order.provider == filters.provider)
        if since := _day(filters.since):
            query = query.where(Order.purchased_at >= _start_of(since))
        if until := _day(filters.until):
            query = query.where(Order.purchased_at < _start_of(until + timedelta(days=1)))
        return query

    def order(self, number: str, partner_slug: str | None = None, *, lock: bool = False) -> Order:
        """Our store's order with this number, or the partner's (``OrderUnknown`` if none);
        ``lock``: its row locked, as a refund needs it."""
        partner = self.unit.partners.by_slug(partner_slug) if partner_slug else None
        query = select(Order).where(Order.number_key == order_number_key(number))
        query = query.where(
            Order.partner_id == partner.id if partner else Order.partner_id.is_(None)
        )
        if lock:
            query = query.with_for_update()
        order = self.session.scalar(query.options(*ORDER_IN_FULL))
        if order is None:
            raise OrderUnknown(f"there is no order {number!r}")
        return order

    def partners_with_number(self, number: str) -> list[str]:
        """The slugs of the partners that recorded an order with this number (a link that
        names only the number, as a customer's page does, finds a partner's sale by it)."""
        return list(
            self.session.scalars(
                select(Partner.slug)
                .join(Order, Order.partner_id == Partner.id)
                .where(Order.number_key == order_number_key(number))
                .order_by(Partner.slug)
                .limit(10)
            )
        )

    def detail(self, order: Order) -> OrderDetail:
        """Everything the order's page shows; its codes masked (their last group only)."""
        codes = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.order_id == order.id)
            .order_by(ActivationCode.id)
            .limit(500)
        )
        reveal = self.unit.codes.reveal_code
        detail = OrderDetail(order, provider_of(order))
        detail.codes = [
            CodeLine(
                code.id,
                formats.mask_code(reveal(code)),
                CodeState(code.state),
                self._plan_name(code.plan_id, order),
            )
            for code in codes
        ]
        detail.events = list(
            self.session.scalars(
                select(PaymentEvent)
                .where(PaymentEvent.order_id == order.id)
                .order_by(PaymentEvent.received_at, PaymentEvent.id)
            )
        )
        if order.account_id is not None:
            detail.account_email = self.session.scalar(
                select(Account.email).where(Account.id == order.account_id)
            )
        detail.subscription = self.unit.orders.subscription(order)
        return detail

    def resend_confirmation(self, order: Order, *, actor: str) -> None:
        """Send a store order's confirmation (its codes) again, to the order's own address
        only; audited, since it carries codes. A partner delivers its own sales' codes."""
        if order.partner_id is not None or order.status != OrderStatus.PAID:
            raise ValidationFailed(f"order {order.number} has no confirmation of ours to send")
        self.unit.orders.send_confirmation(order, again=True)
        self.unit.audit(
            "store.confirmation_resent",
            subject_type="order",
            subject_id=order.id,
            actor=actor,
            number=order.number,
        )

    @staticmethod
    def _plan_name(plan_id: int, order: Order) -> str:
        return next((item.plan.name for item in order.items if item.plan_id == plan_id), "")
