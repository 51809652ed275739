"""Buying codes in the store (F2): the rules of a checkout, from the buy form to the
delivered codes. No HTTP here; the payment provider is reached through its interface
(``licensor.store.payments``).

A checkout makes a PENDING order with a payment reference of ours; the provider's
verified callback settles it (``settle``). A paid order is delivered exactly once: its
codes are created and the confirmation mail is queued in the same transaction, under a
row lock on the order, so a callback repeated or raced by another process finds the
order paid and does nothing. A declined payment fails the order, with no codes; the buyer
tries again as a new order (``retry``), so each reference keeps naming one payment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import select

from licensor.errors import FormInvalid, LicensorError
from licensor.licensing.service import audit
from licensor.logging import log
from licensor.models import Account, Order, OrderStatus, Plan
from licensor.store.payments import PaymentOutcome, PaymentRequest, PaymentResult
from licensor.store.service import Store, buyer_problems
from licensor.units import Service

MAX_STORE_QUANTITY = 10
REFERENCE_PREFIX = "pay_"


class PlanNotForSale(LicensorError):
    status = 404
    code = "plan_not_for_sale"
    title = "This plan is not sold in the store"


class PaymentUnknown(LicensorError):
    status = 404
    code = "payment_unknown"
    title = "There is no payment with this reference"


class PaymentMismatch(LicensorError):
    status = 409
    code = "payment_mismatch"
    title = "The payment does not match the order"


@dataclass(frozen=True)
class CheckoutForm:
    """The buy form, as typed: it re-renders with it."""

    quantity: str = "1"
    name: str = ""
    email: str = ""


def new_reference() -> str:
    """Our payment reference: unguessable, since the return page is found by it."""
    return REFERENCE_PREFIX + secrets.token_urlsafe(24)


class Checkout(Service):
    @cached_property
    def store(self) -> Store:
        return Store(self.session, self.keyring, self.settings, self.now)

    # the catalog ----------------------------------------------------------------------

    def offers(self) -> list[Plan]:
        """The plans sold as codes: those with a price, cheapest first."""
        return list(
            self.session.scalars(
                select(Plan)
                .where(Plan.price_cents.is_not(None))
                .order_by(Plan.price_cents, Plan.code)
            )
        )

    def offer(self, plan_code: str) -> Plan:
        plan = self.session.scalar(
            select(Plan).where(
                Plan.code == plan_code.strip().lower(), Plan.price_cents.is_not(None)
            )
        )
        if plan is None:
            raise PlanNotForSale()
        return plan

    # starting -------------------------------------------------------------------------

    def start(
        self,
        plan_code: str,
        form: CheckoutForm,
        *,
        account: Account | None,
        language: str,
        actor: str,
    ) -> PaymentRequest:
        """A PENDING order for the form's codes, and the payment to open for it.

        Bought signed in, the order is the account's (its codes join it on delivery) and
        the confirmation goes to the account's address, whatever the form said."""
        plan = self.offer(plan_code)
        email = account.email if account is not None else form.email
        errors = buyer_problems(form.name, email)
        try:
            quantity = int(form.quantity.strip())
        except ValueError:
            quantity = 0
        if not 1 <= quantity <= MAX_STORE_QUANTITY:
            errors["quantity"] = "store_quantity_range"
        if errors:
            raise FormInvalid(errors)
        order = self.store.open_order(
            plan,
            quantity=quantity,
            name=form.name,
            email=email,
            account_id=account.id if account is not None else None,
            language=language,
            status=OrderStatus.PENDING,
        )
        return self._open_payment(order, plan, actor=actor)

    def retry(self, reference: str, *, actor: str) -> PaymentRequest:
        """After a declined payment: a new order with the same plan, quantity and buyer,
        and its payment. A pending order's own payment is simply opened again."""
        failed = self.order(reference)
        if failed.status == OrderStatus.PENDING:
            return self._payment_request(failed)
        if failed.status != OrderStatus.FAILED:
            raise PaymentUnknown("this order is not waiting for a payment")
        item = failed.items[0]
        plan = self.offer(item.plan.code)  # still sold, at today's price
        order = self.store.open_order(
            plan,
            quantity=item.quantity,
            name=failed.customer_name,
            email=failed.customer_email,
            account_id=failed.account_id,
            language=failed.language,
            status=OrderStatus.PENDING,
        )
        return self._open_payment(order, plan, actor=actor, retry_of=failed.number)

    def _open_payment(
        self, order: Order, plan: Plan, *, actor: str, retry_of: str | None = None
    ) -> PaymentRequest:
        order.payment_reference = new_reference()
        self.session.flush()
        audit(
            self.session,
            self.now,
            actor=actor,
            action="store.checkout_started",
            subject_type="order",
            subject_id=order.id,
            number=order.number,
            plan=plan.code,
            quantity=order.items[0].quantity,
            total_cents=order.total_cents,
            retry_of=retry_of,
        )
        return self._payment_request(order)

    def _payment_request(self, order: Order) -> PaymentRequest:
        assert order.payment_reference is not None
        item = order.items[0]
        return PaymentRequest(
            reference=order.payment_reference,
            order_number=order.number,
            amount_cents=order.total_cents,
            currency=order.currency,
            description=f"{item.plan.name} activation code x{item.quantity}",
            customer_email=order.customer_email,
            language=order.language,
            return_url=self.settings.url(f"/store/orders/{order.payment_reference}"),
            cancel_url=self.settings.url(f"/store/{item.plan.code}"),
        )

    # orders by reference ---------------------------------------------------------------

    def order(self, reference: str, *, lock: bool = False) -> Order:
        """The store order paid (or to be paid) under our reference."""
        if not reference.startswith(REFERENCE_PREFIX):
            raise PaymentUnknown()
        query = select(Order).where(
            Order.payment_reference == reference, Order.partner_id.is_(None)
        )
        order = self.session.scalar(query.with_for_update() if lock else query)
        if order is None:
            raise PaymentUnknown()
        return order

    # settling ---------------------------------------------------------------------------

    def settle(self, result: PaymentResult, *, actor: str) -> Order:
        """Apply a verified payment outcome to its order, once.

        Paid: the order becomes PAID, its codes are made and the confirmation is queued.
        Failed: a pending order becomes FAILED. A paid order never changes again, so a
        repeated callback does nothing; the row lock makes a concurrent one wait and then
        find it paid. A payment that succeeds after a reported failure is honoured:
        money taken means codes delivered."""
        order = self.order(result.reference, lock=True)
        if order.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
            return order
        if result.outcome == PaymentOutcome.FAILED:
            if order.status == OrderStatus.PENDING:
                order.status = OrderStatus.FAILED
                audit(
                    self.session,
                    self.now,
                    actor=actor,
                    action="store.payment_failed",
                    subject_type="order",
                    subject_id=order.id,
                    number=order.number,
                    payment_id=result.provider_payment_id,
                )
            return order
        if (result.amount_cents, result.currency.upper()) != (order.total_cents, order.currency):
            log.error(
                "store.payment_mismatch",
                number=order.number,
                expected=f"{order.total_cents} {order.currency}",
                paid=f"{result.amount_cents} {result.currency}",
                payment_id=result.provider_payment_id,
            )
            raise PaymentMismatch(f"the payment does not match the total of order {order.number}")
        order.status = OrderStatus.PAID
        order.purchased_at = self.now
        codes = self.store.deliver_codes(order)
        audit(
            self.session,
            self.now,
            actor=actor,
            action="store.order_paid",
            subject_type="order",
            subject_id=order.id,
            number=order.number,
            codes=len(codes),
            payment_id=result.provider_payment_id,
        )
        self.store.send_confirmation(order)
        return order
