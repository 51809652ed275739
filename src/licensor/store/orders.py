"""Orders: their numbers, what they deliver, and the mail that tells the buyer.

A store order's codes go to the buyer in a confirmation mail (written to the outbox in the
same transaction); a partner's order is recorded here but delivered by the partner, whose
buyer is only ever told whom to ask (``send_partner_pointer``). Partner sales are recorded
in ``store/sales.py``; checkouts open and settle orders in ``store/checkout.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from licensor.accounts.service import email_problem, normalize_email
from licensor.clock import isoformat, mail_date
from licensor.errors import FormInvalid
from licensor.licensing import formats
from licensor.models import (
    ActivationCode,
    Channel,
    CodeOrigin,
    CodeState,
    ItemKind,
    License,
    Order,
    OrderItem,
    OrderStatus,
    Partner,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from licensor.store.tax import tax_part, vat_rate_text
from licensor.units import Service
from licensor.webhooks import events

ORDER_PREFIX = "ORD"
_CROCKFORD_READING = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_./#]+")
MAX_QUANTITY = 100
MAX_NAME = 200  # as the orders table keeps it

# What reading an order needs beyond its row (its relationships raise rather than load
# unasked): its items with their plans, and its partner. Loaded by separate SELECTs, not
# joins, so the order's own row can be read FOR UPDATE.
ORDER_IN_FULL: tuple[LoaderOption, ...] = (
    selectinload(Order.items).selectinload(OrderItem.plan),
    selectinload(Order.partner),
)


def money(cents: int, currency: str, language: str) -> str:
    """A price as the reader's language writes it: "€39.99", "39,99 €"."""
    return format_currency(Decimal(cents) / 100, currency, locale=language)


def generate_order_number() -> str:
    """``ORD-7K3M-9QXT``: 40 random bits, read aloud without ambiguity, not sequential."""
    return formats.readable_number(ORDER_PREFIX)


def order_number_key(text: str) -> str:
    """What two spellings of one order number share: case, spaces and dashes aside
    (and, for our own numbers, O read as 0 and I or L as 1)."""
    key = _SEPARATORS.sub("", text.strip().upper())
    if key.startswith(ORDER_PREFIX):
        key = ORDER_PREFIX + key[len(ORDER_PREFIX) :].translate(_CROCKFORD_READING)
    return key[:60]


def buyer_problems(name: str, email: str) -> dict[str, str]:
    """What is wrong with a buyer's name and email, by field: message keys for forms."""
    errors: dict[str, str] = {}
    problem = email_problem(email.strip())
    if problem:
        errors["email"] = problem
    if not name.strip():
        errors["name"] = "required"
    elif len(name.strip()) > MAX_NAME:
        errors["name"] = "name_too_long"
    return errors


def new_order(
    number: str,
    *,
    partner: Partner | None,
    status: OrderStatus,
    purchased_at: datetime,
    name: str,
    email: str,
    created_at: datetime,
    **columns: Any,
) -> Order:
    """An order row, not yet added: its channel follows whether a partner sold it, and the
    buyer's name and email are kept as lookups compare them (trimmed, the email normalised)."""
    return Order(
        number=number.strip(),
        number_key=order_number_key(number),
        channel=Channel.PARTNER if partner else Channel.STORE,
        partner=partner,
        status=status,
        purchased_at=purchased_at,
        customer_name=name.strip(),
        customer_email=normalize_email(email),
        created_at=created_at,
        **columns,
    )


@dataclass(frozen=True)
class PlacedOrder:
    """An order as the back office (and the tests) see it once it is made."""

    number: str
    purchased_at: datetime
    codes: list[str]
    channel: str
    partner: str | None
    email: str

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "purchased_at": isoformat(self.purchased_at),
            "codes": self.codes,
        }


class Orders(Service):
    def create(
        self,
        *,
        plan_code: str,
        email: str,
        name: str,
        quantity: int = 1,
        partner_slug: str | None = None,
        account_id: int | None = None,
        language: str = "en",
        actor: str = "cli",
    ) -> PlacedOrder:
        """A paid order of ``quantity`` new codes for a plan, as the back office enters it:
        one code per unit. A store order's confirmation (number and codes) goes to the
        buyer; a partner delivers its own."""
        errors = buyer_problems(name, email)
        if not 1 <= quantity <= MAX_QUANTITY:
            errors["quantity"] = "quantity_range"
        if errors:
            raise FormInvalid(errors)
        plan = self.unit.plans.by_code(plan_code)
        partner = self.unit.partners.by_slug(partner_slug) if partner_slug else None
        order = self.open_order(
            plan,
            quantity=quantity,
            name=name,
            email=email,
            partner=partner,
            account_id=account_id,
            language=language,
            status=OrderStatus.PAID,
        )
        # An address an account has verified brings the order to it (its codes with it).
        self.unit.account_purchases.adopt(order, via="payment", tell=partner is not None)
        codes = self.deliver_codes(order)
        self.unit.audit(
            "store.order_created",
            subject_type="order",
            subject_id=order.id,
            actor=actor,
            number=order.number,
            channel=order.channel,
            plan=plan.code,
            quantity=quantity,
        )
        self.unit.webhooks.emit("order.paid", events.order_data(order))
        if partner is None:
            self.send_confirmation(order)
        return PlacedOrder(
            order.number,
            order.purchased_at,
            codes,
            order.channel,
            partner.slug if partner else None,
            order.customer_email,
        )

    def _new_store_number(self) -> str:
        # Unique among our store's orders (the index says so too); a partner's numbers are
        # its own business.
        while True:
            number = generate_order_number()
            taken = self.session.scalar(
                select(Order.id).where(
                    Order.number_key == order_number_key(number), Order.partner_id.is_(None)
                )
            )
            if taken is None:
                return number

    def open_order(
        self,
        plan: Plan,
        *,
        quantity: int,
        name: str,
        email: str,
        partner: Partner | None = None,
        account_id: int | None = None,
        language: str = "en",
        status: OrderStatus = OrderStatus.PAID,
        kind: ItemKind = ItemKind.CODE,
        number: str | None = None,
        **sold_elsewhere: Any,
    ) -> Order:
        """A new order for ``quantity`` codes of a plan at its price (or one subscription
        to it, at its subscription price), with its number and item, nothing delivered
        yet: paid (the back office) or pending (a checkout).

        An order a merchant-of-record store sold (store/fulfilment/) keeps that store's
        ``number`` (the one on the buyer's receipt) and passes what it charged and its ids
        as columns (``currency``, ``total_cents``, ``tax_cents``, ``items``, ``provider``,
        ``provider_order_id``...), which replace what the plan's price would make."""
        unit_price = (
            plan.subscription_price_cents if kind == ItemKind.SUBSCRIPTION else plan.price_cents
        ) or 0
        columns: dict[str, Any] = {
            "currency": plan.currency,
            "total_cents": unit_price * quantity,
            "tax_cents": tax_part(unit_price * quantity, self.settings.vat_percent),
            "items": [
                OrderItem(plan=plan, kind=kind, quantity=quantity, unit_price_cents=unit_price)
            ],
        } | sold_elsewhere
        if number is None:
            number = self._new_store_number() if partner is None else generate_order_number()
        order = new_order(
            number,
            partner=partner,
            status=status,
            purchased_at=self.now,
            name=name,
            email=email,
            created_at=self.now,
            language=language,
            account_id=account_id,
            **columns,
        )
        self.session.add(order)
        self.session.flush()
        return order

    def deliver_codes(self, order: Order) -> list[str]:
        """New codes for the order, one per unit of each code item, formatted: each tied to
        the order, and joined to the order's account when it has one."""
        origin = CodeOrigin.PARTNER_ORDER if order.partner_id else CodeOrigin.STORE_ORDER
        codes: list[str] = []
        for item in order.items:
            if item.kind != ItemKind.CODE:
                continue
            for _ in range(item.quantity):
                code, canonical = self.unit.codes.create_code(item.plan, origin)
                code.order_id = order.id
                if order.account_id is not None:
                    code.account_id, code.linked_at = order.account_id, self.now
                codes.append(formats.format_code(canonical))
        self.session.flush()
        return codes

    def codes(self, order: Order) -> list[tuple[Plan, str]]:
        """The order's codes in clear, formatted, each with its plan, in the order made."""
        rows = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.order_id == order.id)
            .options(joinedload(ActivationCode.plan))
            .order_by(ActivationCode.id)
        )
        reveal = self.unit.codes.reveal_code
        return [(code.plan, formats.format_code(reveal(code))) for code in rows]

    def find(self, number: str, partner: Partner | None = None) -> Order | None:
        """Our store's order with this number, or ``partner``'s: never another's."""
        query = select(Order).where(Order.number_key == order_number_key(number))
        query = query.where(
            Order.partner_id == partner.id if partner else Order.partner_id.is_(None)
        )
        return self.session.scalar(query.options(*ORDER_IN_FULL))

    def subscription(self, order: Order) -> Subscription | None:
        """The subscription a paid subscription order started."""
        return self.session.scalar(
            select(Subscription).where(Subscription.order_id == order.id).order_by(Subscription.id)
        )

    # refunds -----------------------------------------------------------------------------

    def mark_refunded(self, order: Order, *, reason: str, actor: str) -> bool:
        """The money of a paid order went back (the console's refund, through the
        provider; a provider's ``charge.refunded``, dispute or merchant-of-record refund
        webhook): the order becomes REFUNDED, every code of it is blocked (and with it its
        license, devices and all), a subscription it started ends, and the buyer is told
        (a partner's buyer by the partner). The caller holds the order locked
        (``select … FOR UPDATE``); a second call finds it refunded and does nothing (False).
        """
        if order.status == OrderStatus.REFUNDED:
            return False
        reason = reason.strip() or "refund"
        order.status = OrderStatus.REFUNDED
        order.refunded_at = self.now
        order.refund_reason = reason
        code_ids = self.session.scalars(
            select(ActivationCode.id)
            .where(ActivationCode.order_id == order.id)
            .order_by(ActivationCode.id)
        ).all()
        blocked = 0
        for code_id in code_ids:
            code = self.unit.codes.get_code(code_id, lock=True)  # with its license
            if code.state != CodeState.BLOCKED:
                self.unit.codes.block(code, reason=f"refund: {reason}", actor=actor)
                blocked += 1
        subscription = self.subscription(order)
        if subscription is not None and subscription.status != SubscriptionStatus.EXPIRED:
            subscription.status = SubscriptionStatus.EXPIRED
            subscription.auto_renew = False
            subscription.current_period_end = min(subscription.current_period_end, self.now)
            if subscription.license_id is not None:
                license_row = self.session.get(License, subscription.license_id)
                if license_row is not None and license_row.blocked_at is None:
                    license_row.blocked_at = self.now
                    license_row.blocked_reason = f"refund: {reason}"
        self.unit.audit(
            "store.order_refunded",
            subject_type="order",
            subject_id=order.id,
            actor=actor,
            reason=reason,
            number=order.number,
            codes_blocked=blocked,
        )
        self.unit.webhooks.emit("order.refunded", {**events.order_data(order), "reason": reason})
        if order.partner_id is None:
            self._mail_buyer(
                order,
                "order_refunded",
                total=money(order.total_cents, order.currency, order.language),
                codes_blocked=blocked,
                help_url=self.settings.url("/help"),
            )
        self.session.flush()
        return True

    # mail to the buyer ------------------------------------------------------------------

    def send_confirmation(self, order: Order, *, again: bool = False) -> None:
        """The confirmation mail, with the order number and every code, to the order's
        own email address (never to an address typed elsewhere). A subscription order's
        has no code: it says where the subscription is and when it renews."""
        if any(item.kind == ItemKind.SUBSCRIPTION for item in order.items):
            self._send_subscription_confirmation(order, again=again)
            return
        self._mail_buyer(
            order,
            "order_confirmation",
            codes=[{"plan": plan.name, "code": code} for plan, code in self.codes(order)],
            **self.price_lines(order),
            in_account=order.account_id is not None,
            orders_url=self.settings.url("/account/orders"),
            sign_up_url=self.settings.url("/sign-up"),
            again=again,
            licenses_url=self.settings.url("/account/licenses"),
            help_url=self.settings.url("/help"),
        )

    def _send_subscription_confirmation(self, order: Order, *, again: bool) -> None:
        subscription = self.subscription(order)
        item = next(item for item in order.items if item.kind == ItemKind.SUBSCRIPTION)
        self._mail_buyer(
            order,
            "subscription_confirmation",
            plan=item.plan.name,
            amount=money(order.total_cents, order.currency, order.language),
            term_days=item.plan.term_days,
            status=subscription.status if subscription else "",
            renews_on=(mail_date(subscription.current_period_end) if subscription else ""),
            again=again,
            subscriptions_url=self.settings.url("/account/subscriptions"),
            help_url=self.settings.url("/help"),
        )

    def price_lines(self, order: Order) -> dict[str, Any]:
        """What a mail says of the price: the total, and the VAT in it where there is
        any (its rate and amount), in the order's language."""
        language = order.language
        return {
            "total": money(order.total_cents, order.currency, language),
            "tax": money(order.tax_cents, order.currency, language) if order.tax_cents else None,
            "vat_rate": vat_rate_text(order, self.settings.vat_percent, language),
        }

    def send_partner_pointer(self, order: Order, partner: Partner) -> None:
        """Tell a partner order's buyer which partner sold it and how to reach it."""
        self._mail_buyer(
            order,
            "order_partner_pointer",
            partner={
                "name": partner.name,
                "email": partner.email,
                "url": partner.url,
                "phone": partner.phone,
            },
        )

    def _mail_buyer(self, order: Order, template: str, **context: Any) -> None:
        # Always the order's own address and language, and what every such mail names.
        self.send_mail(
            order.customer_email,
            order.language,
            template,
            number=order.number,
            name=order.customer_name,
            purchased_on=mail_date(order.purchased_at),
            **context,
        )
