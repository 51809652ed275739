"""What a payment provider's verified webhook does here (docs/payments.md), once.

``PaymentProvider.verify`` turns a callback into a notice; ``ProviderEvents.apply`` acts
on it in the webhook's transaction: a payment settles its order (and a subscription the
provider bills itself is bound to it), a saved card replaces a subscription's, a refund or
dispute refunds the order it names (``Orders.mark_refunded``: codes blocked, buyer
mailed), and a provider-billed subscription's invoices renew it or mark it past due.

A notice that carries the provider's event id is recorded first
(``payment_events.first_delivery``), in the same transaction as its effect: a delivery
repeated, or two at once, finds it recorded and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from licensor.logging import log
from licensor.models import Order, OrderStatus
from licensor.store.billing import SubscriptionBilling
from licensor.store.payment_events import first_delivery, note_order
from licensor.store.payments import (
    TEST_PROVIDER,
    BilledRenewal,
    BilledSubscriptionEnded,
    PaymentResult,
    PaymentReversed,
    ProviderNotice,
    SetupResult,
)
from licensor.units import Service


@dataclass(frozen=True)
class Applied:
    """What a notice did: the webhook's answer (200), and a subscription the provider
    must stop billing (its first order was refunded or disputed here), which the webhook
    tells it once the transaction is committed."""

    answer: dict[str, str]
    stop_billing: str = ""


class ProviderEvents(Service):
    """Asked for as ``unit.service(ProviderEvents)``."""

    def apply(self, notice: ProviderNotice, *, provider: str) -> Applied:
        """Act on a verified notice from ``provider``."""
        actor = f"payments:{provider}"
        if notice.event_id and not first_delivery(
            self.session,
            provider=provider,
            event_id=notice.event_id,
            event_type=notice.event_type or type(notice).__name__,
            now=self.now,
        ):
            return Applied({"status": "duplicate"})
        if isinstance(notice, PaymentReversed):
            return self._reversed(notice, provider=provider, actor=actor)
        return Applied(self._act(notice, provider=provider, actor=actor))

    def _act(
        self,
        notice: PaymentResult | SetupResult | BilledRenewal | BilledSubscriptionEnded,
        *,
        provider: str,
        actor: str,
    ) -> dict[str, str]:
        if isinstance(notice, SetupResult):  # a subscription's new card
            self.unit.service(SubscriptionBilling).card_saved(notice, actor=actor)
            return {"reference": notice.reference, "status": "saved"}
        if isinstance(notice, PaymentResult):
            order = self._settle(notice, provider=provider, actor=actor)
            return {"reference": notice.reference, "status": order.status}
        if isinstance(notice, BilledRenewal):
            outcome = self.unit.renewals.billed_invoice(notice, actor=actor)
            return {"status": str(outcome)}
        ended = self.unit.renewals.billed_subscription_ended(
            notice.provider_subscription_id, actor=actor
        )
        return {"status": "expired" if ended else "unchanged"}

    def _settle(self, result: PaymentResult, *, provider: str, actor: str) -> Order:
        order = self.unit.checkout.settle(result, actor=actor)
        if result.event_id:
            note_order(self.session, provider=provider, event_id=result.event_id, order_id=order.id)
        if order.status != OrderStatus.PAID:
            return order
        if provider != TEST_PROVIDER and order.provider is None:
            # Who took the money: a refund after the store changed providers is made in
            # this one's dashboard (``order_admin.refund_way``).
            order.provider = provider
        if not result.provider_payment_id:
            pass
        elif order.provider_payment_id is None:
            # What a refund or dispute notice names, and what a refund from here sends.
            order.provider_payment_id = result.provider_payment_id
        elif order.provider_payment_id != result.provider_payment_id:
            # Paid twice (two checkout pages of one order): one order, so one is refunded.
            log.error(
                "store.order_paid_twice",
                number=order.number,
                kept=order.provider_payment_id,
                other=result.provider_payment_id,
                hint="refund the other payment in the provider's dashboard",
            )
        if result.provider_subscription_id:
            subscription = self.unit.orders.subscription(order)
            if subscription is not None and subscription.provider_subscription_id is None:
                subscription.provider = provider
                subscription.provider_subscription_id = result.provider_subscription_id
        self.session.flush()
        return order

    def _reversed(self, notice: PaymentReversed, *, provider: str, actor: str) -> Applied:
        order = self.session.scalar(
            select(Order)
            .where(Order.provider_payment_id == notice.provider_payment_id)
            .order_by(Order.id)
            .limit(1)
            .with_for_update()
        )
        if order is None or order.status not in (OrderStatus.PAID, OrderStatus.REFUNDED):
            log.warning(
                "store.refund_unmatched", provider=provider, payment=notice.provider_payment_id
            )
            return Applied({"status": "ignored"})
        if notice.event_id:
            note_order(self.session, provider=provider, event_id=notice.event_id, order_id=order.id)
        self.unit.orders.mark_refunded(order, reason=notice.reason, actor=actor)
        # Refunded here (this event, or the console's refund before it), the subscription
        # the order started has ended; the provider billing it must stop too.
        subscription = self.unit.orders.subscription(order)
        billed = subscription.provider_subscription_id if subscription is not None else None
        return Applied({"number": order.number, "status": order.status}, billed or "")
