"""Refunds made from the back office (the console's "Refund", ``licensor orders refund``).

A refund through the payment provider is three steps, so that no database transaction is
held open while the provider answers (a slow provider would otherwise hold the order's
row, and a connection, for as long as it takes):

1. ``prepare`` (a transaction): the order is paid and refundable here, the reason is
   given; it returns the ``RefundRequest`` to send, or None when no provider is asked
   (a partner's sale, an order entered by hand: the money went back elsewhere).
2. ``provider.refund(request)`` outside any transaction. ``PaymentUnavailable`` means
   nothing changed: the admin tries again.
3. ``complete`` (a transaction): the order row locked, ``Orders.mark_refunded`` blocks
   the codes and mails the buyer.

Two refunds at once (a double click, two admins) refund once: the request's reference is
decided by the order (``refund_`` + its payment reference), so the provider's idempotency
key makes the second call a repeat of the first, and ``mark_refunded`` under the row lock
finds the order refunded and does nothing.
"""

from __future__ import annotations

from licensor.errors import FormInvalid, OrderNotRefundable
from licensor.models import Order, OrderStatus
from licensor.store.order_admin import MERCHANTS_OF_RECORD, RefundWay, refund_way
from licensor.store.payments import RefundRequest
from licensor.units import Service

MAX_REASON = 500


def refund_reference(order: Order) -> str:
    """The provider's idempotency key for this order's refund: one order, one refund."""
    return "refund_" + (order.payment_reference or order.provider_payment_id or order.number)


class Refunds(Service):
    def prepare(self, order: Order, *, reason: str, provider_name: str) -> RefundRequest | None:
        """Check the refund can be made and say what to ask the provider (None: nothing to
        ask). ``FormInvalid`` for a missing or long reason; ``OrderNotRefundable`` for an
        order that is not paid, or that its merchant-of-record store refunds."""
        reason = reason.strip()
        if not reason:
            raise FormInvalid({"reason": "required"})
        if len(reason) > MAX_REASON:
            raise FormInvalid({"reason": "reason_too_long"})
        way = refund_way(order, provider_name)
        if way == RefundWay.ELSEWHERE:
            store = MERCHANTS_OF_RECORD.get(order.provider or "", order.provider or "")
            raise OrderNotRefundable(
                f"order {order.number} was paid through {store}: refund it in that "
                "store's dashboard (its refund webhook blocks the codes here)"
            )
        if way == RefundWay.NONE and order.status != OrderStatus.REFUNDED:
            raise OrderNotRefundable(f"order {order.number} is {order.status}, not paid")
        if way != RefundWay.PROVIDER:
            return None
        return RefundRequest(
            reference=refund_reference(order),
            order_number=order.number,
            payment_reference=order.payment_reference,
            provider_payment_id=order.provider_payment_id,
            amount_cents=order.total_cents,
            currency=order.currency,
            reason=reason,
        )

    def complete(self, order_id: int, *, reason: str, actor: str) -> bool:
        """The money went back: lock the order and mark it refunded (codes blocked, buyer
        mailed). False when it was refunded already (a second click, another admin)."""
        order = self.session.get_one(Order, order_id, with_for_update=True, populate_existing=True)
        return self.unit.orders.mark_refunded(order, reason=reason, actor=actor)
