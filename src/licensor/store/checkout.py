"""Buying in the store: codes (F2) and subscriptions (F1). The rules of a checkout, from
the buy form to what is delivered. No HTTP here; the payment provider is reached through
its interface (``licensor.store.payments``).

A checkout makes a PENDING order with a payment reference of ours; the provider's
verified callback settles it (``settle``). A paid order is delivered exactly once: its
codes are created (or its subscription started) and the confirmation mail is queued in
the same transaction, under a row lock on the order, so a callback repeated or raced by
another process finds the order paid and does nothing. A declined payment fails the
order, with nothing delivered; the buyer tries again on the same order (``retry``), which
keeps its number and its payment reference: one order, one number, whatever the attempts.

The browser that started a checkout holds a token (a cookie; its hash on the order) that
lets the thanks page show it the codes once (``reveal_codes_once``): a mistyped email then
loses nothing, and whoever else opens the thanks address never sees them.

Signed in, the buyer is not asked again for what the account knows: its email, and the
name given on its last order (``account_name``).

A subscription is bound to an account, so only a signed-in customer can start one; its
order has one ``ItemKind.SUBSCRIPTION`` item at the plan's subscription price, and its
payment asks the provider to keep the payment method for the renewals.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from licensor.accounts.service import token_hash
from licensor.errors import (
    AlreadySubscribed,
    FormInvalid,
    PaymentMismatch,
    PaymentUnknown,
    PlanNotForSale,
    SubscriptionNeedsAccount,
)
from licensor.logging import log
from licensor.models import (
    Account,
    ItemKind,
    Order,
    OrderStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from licensor.store.orders import ORDER_IN_FULL, buyer_problems
from licensor.store.payments import PaymentOutcome, PaymentRequest, PaymentResult
from licensor.units import Service
from licensor.webhooks import events

MAX_STORE_QUANTITY = 10
REFERENCE_PREFIX = "pay_"
THANKS_TOKEN_BYTES = 32


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
    # the catalog ----------------------------------------------------------------------

    def offers(self) -> list[Plan]:
        """The plans sold, as codes or as subscriptions (or both), none retired: cheapest
        first."""
        plans = self.session.scalars(
            select(Plan).where(
                Plan.price_cents.is_not(None) | Plan.subscription_price_cents.is_not(None),
                Plan.retired_at.is_(None),
            )
        )
        return sorted(
            plans,
            key=lambda plan: (
                min(p for p in (plan.price_cents, plan.subscription_price_cents) if p is not None),
                plan.code,
            ),
        )

    def offer(self, plan_code: str, kind: ItemKind | None = None) -> Plan:
        """A plan sold in the store: as ``kind`` (a code or a subscription), or either way."""
        price = {
            ItemKind.CODE: Plan.price_cents.is_not(None),
            ItemKind.SUBSCRIPTION: Plan.subscription_price_cents.is_not(None),
            None: Plan.price_cents.is_not(None) | Plan.subscription_price_cents.is_not(None),
        }[kind]
        plan = self.session.scalar(
            select(Plan).where(
                Plan.code == plan_code.strip().lower(), price, Plan.retired_at.is_(None)
            )
        )
        if plan is None:
            raise PlanNotForSale()
        return plan

    def live_subscription(self, account: Account, plan: Plan) -> Subscription | None:
        """The account's subscription to this plan that still renews, if any."""
        return self.session.scalar(
            select(Subscription).where(
                Subscription.account_id == account.id,
                Subscription.plan_id == plan.id,
                Subscription.status.in_([SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE]),
            )
        )

    def account_name(self, account: Account) -> str:
        """The name the account's newest store order gives: what a signed-in checkout
        uses instead of asking again ('' until the account has bought once)."""
        name = self.session.scalar(
            select(Order.customer_name)
            .where(
                Order.account_id == account.id,
                Order.partner_id.is_(None),
                Order.customer_name != "",
            )
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(1)
        )
        return name or ""

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
        plan = self.offer(plan_code, ItemKind.CODE)
        email = account.email if account is not None else form.email
        name = form.name.strip() or (self.account_name(account) if account else "")
        errors = buyer_problems(name, email)
        try:
            quantity = int(form.quantity.strip())
        except ValueError:
            quantity = 0
        if not 1 <= quantity <= MAX_STORE_QUANTITY:
            errors["quantity"] = "store_quantity_range"
        if errors:
            raise FormInvalid(errors)
        order = self.unit.orders.open_order(
            plan,
            quantity=quantity,
            name=name,
            email=email,
            account_id=account.id if account is not None else None,
            language=language,
            status=OrderStatus.PENDING,
        )
        return self._open_payment(order, plan, actor=actor)

    def subscribe(
        self,
        plan_code: str,
        *,
        name: str,
        account: Account | None,
        language: str,
        actor: str,
    ) -> PaymentRequest:
        """A PENDING order for one subscription to the plan, for the signed-in account,
        and the payment to open for it (which keeps the payment method for renewals)."""
        plan = self.offer(plan_code, ItemKind.SUBSCRIPTION)
        if account is None:
            raise SubscriptionNeedsAccount()
        name = name.strip() or self.account_name(account)
        errors = buyer_problems(name, account.email)
        if errors:
            raise FormInvalid(errors)
        if self.live_subscription(account, plan) is not None:
            raise AlreadySubscribed()
        order = self.unit.orders.open_order(
            plan,
            quantity=1,
            name=name,
            email=account.email,
            account_id=account.id,
            language=language,
            status=OrderStatus.PENDING,
            kind=ItemKind.SUBSCRIPTION,
        )
        return self._open_payment(order, plan, actor=actor)

    def retry(self, reference: str, *, actor: str) -> PaymentRequest:
        """After a declined payment: the same order, pending again, and its payment opened
        again under the same reference (the order keeps its number and price). A pending
        order's payment is simply opened again."""
        order = self.order(reference, lock=True)
        if order.status == OrderStatus.PENDING:
            return self.payment_request(order)
        if order.status != OrderStatus.FAILED:
            raise PaymentUnknown("this order is not waiting for a payment")
        item = order.items[0]
        self.offer(item.plan.code, ItemKind(item.kind))  # still sold
        if item.kind == ItemKind.SUBSCRIPTION:
            account = self.session.get(Account, order.account_id) if order.account_id else None
            if account is not None and self.live_subscription(account, item.plan) is not None:
                raise AlreadySubscribed()
        order.status = OrderStatus.PENDING
        self.unit.audit(
            "store.payment_retried",
            subject_type="order",
            subject_id=order.id,
            actor=actor,
            number=order.number,
        )
        return self.payment_request(order)

    def _open_payment(self, order: Order, plan: Plan, *, actor: str) -> PaymentRequest:
        order.payment_reference = new_reference()
        self.session.flush()
        self.unit.audit(
            "store.checkout_started",
            subject_type="order",
            subject_id=order.id,
            actor=actor,
            number=order.number,
            plan=plan.code,
            quantity=order.items[0].quantity,
            total_cents=order.total_cents,
        )
        return self.payment_request(order)

    def payment_request(self, order: Order) -> PaymentRequest:
        """The payment opened for an order (the same each time it is asked)."""
        assert order.payment_reference is not None
        item = order.items[0]
        subscription = item.kind == ItemKind.SUBSCRIPTION
        return PaymentRequest(
            reference=order.payment_reference,
            order_number=order.number,
            amount_cents=order.total_cents,
            currency=order.currency,
            description=(
                f"{item.plan.name} subscription, renews every {item.plan.term_days} days"
                if subscription
                else f"{item.plan.name} activation code x{item.quantity}"
            ),
            customer_email=order.customer_email,
            language=order.language,
            return_url=self.settings.url(f"/store/orders/{order.payment_reference}"),
            cancel_url=self.settings.url(f"/store/{item.plan.code}"),
            save_payment_method=subscription,
            term_days=item.plan.term_days if subscription else 0,
        )

    # orders by reference ---------------------------------------------------------------

    def order(self, reference: str, *, lock: bool = False) -> Order:
        """The store order paid (or to be paid) under our reference."""
        if not reference.startswith(REFERENCE_PREFIX):
            raise PaymentUnknown()
        query = (
            select(Order)
            .where(Order.payment_reference == reference, Order.partner_id.is_(None))
            .options(*ORDER_IN_FULL)
        )
        order = self.session.scalar(query.with_for_update() if lock else query)
        if order is None:
            raise PaymentUnknown()
        return order

    # the browser that paid --------------------------------------------------------------

    def remember_browser(self, order: Order) -> str:
        """A token for the browser starting this order's checkout (it keeps it in a
        cookie); only its hash is kept, on the order."""
        token = secrets.token_urlsafe(THANKS_TOKEN_BYTES)
        order.thanks_token_hash = token_hash(token)
        self.session.flush()
        return token

    def reveal_codes_once(self, reference: str, token: str | None, *, actor: str) -> list[str]:
        """The paid order's codes, for the browser holding its token, the first time it
        asks; afterwards (or for any other browser) nothing. The showing is audited, and the
        token is spent."""
        order = self.order(reference, lock=True)
        if (
            not token
            or order.status != OrderStatus.PAID
            or order.codes_shown_at is not None
            or order.thanks_token_hash is None
            or not secrets.compare_digest(order.thanks_token_hash, token_hash(token))
        ):
            return []
        codes = [code for _plan, code in self.unit.orders.codes(order)]
        order.codes_shown_at = self.now
        order.thanks_token_hash = None
        self.unit.audit(
            "store.codes_shown",
            subject_type="order",
            subject_id=order.id,
            actor=actor,
            number=order.number,
            codes=len(codes),
            where="thanks_page",
        )
        return codes

    # settling ---------------------------------------------------------------------------

    def settle(self, result: PaymentResult, *, actor: str) -> Order:
        """Apply a verified payment outcome to its order, once.

        Paid: the order becomes PAID, its codes are made (or its subscription started,
        keeping the saved payment method for renewals) and the confirmation is queued.
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
                self.unit.audit(
                    "store.payment_failed",
                    subject_type="order",
                    subject_id=order.id,
                    actor=actor,
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
        # A guest's order placed with an address an account has verified joins it now.
        self.unit.account_purchases.adopt(order, via="payment")
        codes = self.unit.orders.deliver_codes(order)
        started = self._start_subscriptions(order, result, actor=actor)
        self.unit.audit(
            "store.order_paid",
            subject_type="order",
            subject_id=order.id,
            actor=actor,
            number=order.number,
            codes=len(codes),
            subscriptions=started,
            payment_id=result.provider_payment_id,
        )
        self.unit.webhooks.emit("order.paid", events.order_data(order))
        self.unit.orders.send_confirmation(order)
        return order

    def _start_subscriptions(self, order: Order, result: PaymentResult, *, actor: str) -> int:
        started = 0
        for item in order.items:
            if item.kind != ItemKind.SUBSCRIPTION:
                continue
            # A subscription order is only ever made for a signed-in account.
            account = self.session.get_one(Account, order.account_id)
            if not result.payment_method:
                log.warning(
                    "store.subscription_without_payment_method",
                    number=order.number,
                    hint="the provider kept no payment method: renewals will be declined",
                )
            self.unit.subscriptions.start(
                account,
                item.plan,
                order_id=order.id,
                payment_reference=result.payment_method or None,
                payment_method=result.card.stored() if result.card else None,
                actor=actor,
            )
            started += 1
        return started
