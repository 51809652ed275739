"""What a merchant-of-record store's webhook asks of us, whichever store sent it.

Paddle, Lemon Squeezy and FastSpring take the buyer's money themselves and tell us by
webhook. Each provider's module (``paddle``, ``lemonsqueezy``, ``fastspring``) checks its
signature and reads its payload into the few events defined here; ``Fulfilment`` acts on
them in one transaction: a paid order becomes our order (the store's own order number,
its amounts, the codes made and mailed), a refund blocks it. Each event is acted on once
(``payment_events``), and each order of theirs is ours once (``orders`` is unique by
provider and their order id), however the deliveries repeat or race.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from licensor.accounts.service import email_problem
from licensor.errors import PlanRetired, PlanUnknown, ValidationFailed
from licensor.logging import log
from licensor.models import ItemKind, Order, OrderItem, Plan
from licensor.store.orders import MAX_NAME, ORDER_IN_FULL
from licensor.store.payment_events import first_delivery, note_order
from licensor.units import Service
from licensor.webhooks import events

PROVIDERS = ("paddle", "lemonsqueezy", "fastspring")
LANGUAGES = ("en", "it")
# A signed quantity is trusted, but not without bound: a misconfigured product must not
# make a million codes in one webhook.
MAX_UNITS = 1000


@dataclass(frozen=True)
class SoldItem:
    """One line of the store's order: its product (price, variant or SKU) id there."""

    product: str
    quantity: int
    unit_price_cents: int = 0


@dataclass(frozen=True)
class Sale:
    """A paid order in the provider's store: ours to create, deliver and mail."""

    event_id: str
    event_type: str
    order_id: str  # the provider's id of the order, stable across its events
    number: str  # the order number the buyer's receipt shows
    email: str
    name: str
    currency: str
    total_cents: int
    tax_cents: int
    items: tuple[SoldItem, ...]
    language: str = "en"
    payment_id: str | None = None
    # Paid with the store's test cards (its test mode): codes only where test payments are
    # allowed (``read_delivery``).
    test_order: bool = False


@dataclass(frozen=True)
class Refund:
    """The provider gave an order's money back (or lost it to a chargeback)."""

    event_id: str
    event_type: str
    order_id: str
    reason: str


@dataclass(frozen=True)
class Ignored:
    """An event we do not act on (a partial refund, a pending adjustment, another type)."""

    event_id: str
    event_type: str
    why: str = "not handled"


ProviderEvent = Sale | Refund | Ignored


@dataclass
class Outcome:
    """What one event did, as the webhook answers it."""

    event_id: str
    status: str  # fulfilled, refunded, duplicate, exists, unmatched, unknown_order, ignored
    order_number: str | None = None
    codes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"event_id": self.event_id, "status": self.status}
        if self.order_number:
            answer["order"] = self.order_number
        return answer


def product_plans(setting: str) -> dict[tuple[str, str], str]:
    """``LICENSOR_FULFILMENT_PRODUCTS`` read: (provider, their product id) → our plan code."""
    plans: dict[tuple[str, str], str] = {}
    for part in setting.split(","):
        if not part.strip():
            continue
        product, _, plan = part.strip().rpartition("=")
        provider, _, product_id = product.partition(":")
        plans[(provider.strip(), product_id.strip())] = plan.strip().lower()
    return plans


def cents(amount: object) -> int:
    """An amount in minor units from a provider's field: an integer, or a string of one."""
    if isinstance(amount, bool):
        raise ValueError("an amount is not a boolean")
    if isinstance(amount, int):
        return amount
    if isinstance(amount, str) and amount.strip().lstrip("-").isdigit():
        return int(amount.strip())
    raise ValueError(f"not an amount in minor units: {amount!r}")


class Fulfilment(Service):
    """Acts on a merchant-of-record store's verified webhook events, each once."""

    def apply(
        self, provider: str, events: list[ProviderEvent], *, mail: bool = True
    ) -> list[Outcome]:
        """Act on each event of one delivery, in this unit's transaction. ``mail=False``:
        the store hands our codes to its buyer itself (FastSpring's license generator)."""
        outcomes: list[Outcome] = []
        for event in events:
            if isinstance(event, Ignored):
                log.info(
                    "store.fulfilment_ignored",
                    provider=provider,
                    event_id=event.event_id,
                    event_type=event.event_type,
                    why=event.why,
                )
                outcomes.append(Outcome(event.event_id, "ignored"))
                continue
            if not first_delivery(
                self.session,
                provider=provider,
                event_id=event.event_id,
                event_type=event.event_type,
                now=self.now,
            ):
                outcomes.append(Outcome(event.event_id, "duplicate"))
                continue
            if isinstance(event, Sale):
                outcomes.append(self._fulfil(provider, event, mail=mail))
            else:
                outcomes.append(self._refund(provider, event))
        return outcomes

    def hand_back(self, provider: str, sale: Sale) -> list[str]:
        """The order's codes for the store to show on its own receipt (FastSpring's
        license generator): made once, without our mail; a repeated request (the store
        retrying) gets the same codes again, a disclosure the audit log records."""
        [outcome] = self.apply(provider, [sale], mail=False)
        if outcome.status == "fulfilled":
            return outcome.codes
        order = self.by_provider(provider, sale.order_id)
        if order is None:
            raise ValidationFailed("no plan is mapped to this product: nothing was issued")
        self.unit.audit(
            "store.codes_handed_back",
            subject_type="order",
            subject_id=order.id,
            actor=f"fulfilment:{provider}",
            number=order.number,
        )
        return [code for _, code in self.unit.orders.codes(order)]

    def by_provider(self, provider: str, order_id: str, *, lock: bool = False) -> Order | None:
        """Our order for the provider's order id, if we made one."""
        query = select(Order).where(
            Order.provider == provider, Order.provider_order_id == order_id[:200]
        )
        if lock:
            query = query.with_for_update()
        return self.session.scalar(query.options(*ORDER_IN_FULL))

    # a sale -----------------------------------------------------------------------------

    def _fulfil(self, provider: str, sale: Sale, *, mail: bool) -> Outcome:
        actor = f"fulfilment:{provider}"
        existing = self.by_provider(provider, sale.order_id)
        if existing is not None:  # another event of the same order got here first
            note_order(
                self.session, provider=provider, event_id=sale.event_id, order_id=existing.id
            )
            if existing.total_cents == 0 and sale.currency:  # made by a license request
                existing.currency = sale.currency.upper()[:3]
                existing.total_cents, existing.tax_cents = sale.total_cents, sale.tax_cents
            return Outcome(sale.event_id, "exists", existing.number)
        lines, unmatched = self._plans_for(provider, sale.items)
        problem = email_problem(sale.email.strip())
        if problem or not lines or sum(q for _, q, _ in lines) > MAX_UNITS:
            why = problem or ("no_plan" if not lines else "too_many")
            self._unmatched(provider, sale, why, [item.product for item in sale.items])
            return Outcome(sale.event_id, "unmatched")
        if unmatched:  # the rest of the order is delivered; these lines are the admin's
            self._unmatched(provider, sale, "no_plan", unmatched)
        order = self._open(provider, sale, lines)
        if order is None:
            existing = self.by_provider(provider, sale.order_id)
            assert existing is not None  # the unique index refused only a twin
            note_order(
                self.session, provider=provider, event_id=sale.event_id, order_id=existing.id
            )
            return Outcome(sale.event_id, "exists", existing.number)
        self.unit.account_purchases.adopt(order, via="payment")
        codes = self.unit.orders.deliver_codes(order)
        self.unit.audit(
            "store.order_created",
            subject_type="order",
            subject_id=order.id,
            actor=actor,
            number=order.number,
            channel=order.channel,
            provider=provider,
            provider_order_id=sale.order_id,
            event_id=sale.event_id,
            plans=sorted({plan.code for plan, _, _ in lines}),
            quantity=sum(quantity for _, quantity, _ in lines),
            mailed=mail,
        )
        self.unit.webhooks.emit("order.paid", {**events.order_data(order), "provider": provider})
        if mail:
            self.unit.orders.send_confirmation(order)
        note_order(self.session, provider=provider, event_id=sale.event_id, order_id=order.id)
        return Outcome(sale.event_id, "fulfilled", order.number, codes)

    def _plans_for(
        self, provider: str, items: tuple[SoldItem, ...]
    ) -> tuple[list[tuple[Plan, int, int]], list[str]]:
        mapping = product_plans(self.settings.fulfilment_products)
        lines: list[tuple[Plan, int, int]] = []
        unmatched: list[str] = []
        for item in items:
            plan_code = mapping.get((provider, item.product))
            plan = None
            if plan_code is not None and item.quantity >= 1:
                try:
                    plan = self.unit.plans.by_code(plan_code)
                except (PlanUnknown, PlanRetired):
                    plan = None
            if plan is None:
                unmatched.append(item.product)
            else:
                lines.append((plan, item.quantity, item.unit_price_cents))
        return lines, unmatched

    def _open(self, provider: str, sale: Sale, lines: list[tuple[Plan, int, int]]) -> Order | None:
        """The order, made in a savepoint: None when the same order of the provider was
        made meanwhile by another event (on PostgreSQL the insert waits for that
        transaction, then meets the unique index)."""
        numbers = [sale.number, f"{provider.upper()}-{sale.number}"]
        # A license request knows no amounts: the order.completed webhook brings them.
        amounts: dict[str, Any] = (
            {
                "currency": sale.currency.upper()[:3],
                "total_cents": sale.total_cents,
                "tax_cents": sale.tax_cents,
            }
            if sale.currency
            else {"total_cents": 0, "tax_cents": 0}
        )
        for number in numbers:
            try:
                with self.session.begin_nested():
                    first_plan, first_quantity, _ = lines[0]
                    return self.unit.orders.open_order(
                        first_plan,
                        quantity=first_quantity,
                        name=sale.name.strip()[:MAX_NAME],
                        email=sale.email,
                        language=sale.language if sale.language in LANGUAGES else "en",
                        number=number[:60],
                        **amounts,
                        items=[
                            OrderItem(
                                plan=plan,
                                kind=ItemKind.CODE,
                                quantity=quantity,
                                unit_price_cents=unit_price,
                            )
                            for plan, quantity, unit_price in lines
                        ],
                        provider=provider,
                        provider_order_id=sale.order_id[:200],
                        provider_payment_id=(sale.payment_id or None),
                    )
            except IntegrityError:
                if self.by_provider(provider, sale.order_id) is not None:
                    return None
                # Another store's (or our own) order already has this number: the next
                # spelling names the provider, and the log says so.
                log.warning("store.fulfilment_number_taken", provider=provider, number=number)
        raise RuntimeError(f"no free order number for {provider} order {sale.order_id}")

    def _unmatched(self, provider: str, sale: Sale, why: str, products: list[str]) -> None:
        # Visible to the admin in the audit log (action store.fulfilment_unmatched), and
        # in the server's log: the buyer paid and got nothing from us.
        log.warning(
            "store.fulfilment_unmatched",
            provider=provider,
            event_id=sale.event_id,
            provider_order_id=sale.order_id,
            why=why,
            products=products,
        )
        self.unit.audit(
            "store.fulfilment_unmatched",
            subject_type="order",
            subject_id=None,
            actor=f"fulfilment:{provider}",
            reason=why,
            provider=provider,
            event_id=sale.event_id,
            provider_order_id=sale.order_id,
            number=sale.number,
            email=sale.email,
            products=products,
        )

    # a refund ---------------------------------------------------------------------------

    def _refund(self, provider: str, refund: Refund) -> Outcome:
        order = self.by_provider(provider, refund.order_id, lock=True)
        if order is None:
            log.warning(
                "store.fulfilment_refund_unknown",
                provider=provider,
                event_id=refund.event_id,
                provider_order_id=refund.order_id,
            )
            self.unit.audit(
                "store.fulfilment_unmatched",
                subject_type="order",
                subject_id=None,
                actor=f"fulfilment:{provider}",
                reason="refund_of_unknown_order",
                provider=provider,
                event_id=refund.event_id,
                provider_order_id=refund.order_id,
            )
            return Outcome(refund.event_id, "unknown_order")
        note_order(self.session, provider=provider, event_id=refund.event_id, order_id=order.id)
        self.unit.orders.mark_refunded(
            order, reason=f"{provider}: {refund.reason}", actor=f"fulfilment:{provider}"
        )
        return Outcome(refund.event_id, "refunded", order.number)
