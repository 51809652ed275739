"""Renewals: a subscription at the end of its period is charged again, retried, or ends.

They run in ``licensor worker`` (``licensor.store.tasks.run_due``), driven by the clock, in
three steps so that no transaction is open while the payment provider answers: ``due``
reads what has come to the end of its period and what to charge for it; the provider
charges the saved payment method under our idempotency key; ``settle_renewal`` applies the
answer under a row lock, once (see ``tasks.py`` for why outside the lock). Each renewal,
failed payment and expiry writes a mail to the owner.

Each paid renewal is an order too (paid, one subscription item, under the renewal's
reference), so it is an invoice with a receipt in My Account like the first purchase.

A subscription the provider bills itself (Stripe Billing: ``provider_subscription_id``)
is never charged here; the provider's invoice webhooks apply the same outcomes
(``billed_invoice``, ``billed_subscription_ended``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from licensor.clock import mail_date
from licensor.logging import log
from licensor.models import (
    Account,
    ItemKind,
    License,
    Order,
    OrderItem,
    OrderStatus,
    Subscription,
    SubscriptionStatus,
)
from licensor.store.orders import money
from licensor.store.payments import BilledRenewal, PaymentOutcome, PaymentResult, RecurringCharge
from licensor.store.subscriptions import grace_period
from licensor.units import Service
from licensor.webhooks import events

RENEWAL_PREFIX = "ren_"
#: A declined renewal is tried again once a day (a new idempotency key each day) until
#: the grace period is over.
RETRY_EVERY = timedelta(days=1)

#: Charges a renewal: the provider's answer (PAID or FAILED) for ``charge.reference``;
#: raises ``PaymentUnavailable`` when there is none. The payment provider supplies it.
Charge = Callable[[RecurringCharge], PaymentResult]


class RenewalOutcome(StrEnum):
    RENEWED = "renewed"
    PAST_DUE = "past_due"
    EXPIRED = "expired"
    UNCHANGED = "unchanged"  # already settled, still past due, or no answer yet


@dataclass(frozen=True)
class Renewal:
    """A subscription at the end of its period, as read before charging it."""

    subscription_id: int
    period_end: datetime
    charge: RecurringCharge | None  # None: renewal is off, so it expires uncharged


@dataclass(frozen=True)
class RenewalRun:
    """What one run of the renewals did, by outcome."""

    renewed: int = 0
    past_due: int = 0
    expired: int = 0
    unchanged: int = 0


def renewal_reference(
    subscription_id: int, period_end: datetime, now: datetime, payment_method: str = ""
) -> str:
    """Our reference for charging one subscription period, on one day of attempts, with
    one card: the provider's idempotency key, so a charge repeated (a worker restarted, two
    workers) answers what the first did and takes the money once, while a card changed
    after a decline is charged at once rather than answered with the old card's decline."""
    attempt = max(0, (now - period_end) // RETRY_EVERY)
    card = hashlib.sha256(payment_method.encode()).hexdigest()[:8]
    return f"{RENEWAL_PREFIX}{subscription_id}_{period_end:%Y%m%d%H%M%S}_{attempt}_{card}"


class Renewals(Service):
    @property
    def grace(self) -> timedelta:
        return grace_period(self.settings)

    def due(self, *, after_id: int = 0, limit: int = 100) -> list[Renewal]:
        """Subscriptions whose period has ended (by id, after ``after_id``), and what to
        charge for each. Reads only: nothing is locked while the provider is asked."""
        rows = self.session.execute(
            select(Subscription, Account)
            .join(Account, Account.id == Subscription.account_id)
            .options(joinedload(Subscription.plan))
            .where(
                Subscription.current_period_end <= self.now,
                Subscription.status != SubscriptionStatus.EXPIRED,
                Subscription.id > after_id,
                # Stripe Billing renews its own (``billed_invoice``): nothing to charge here.
                Subscription.provider_subscription_id.is_(None),
            )
            .order_by(Subscription.id)
            .limit(limit)
        ).all()
        renewals: list[Renewal] = []
        for subscription, account in rows:
            price = self.renewal_price(subscription)
            renews = (
                subscription.auto_renew
                and subscription.status != SubscriptionStatus.CANCELED
                and price is not None
            )
            charge = (
                RecurringCharge(
                    reference=renewal_reference(
                        subscription.id,
                        subscription.current_period_end,
                        self.now,
                        subscription.payment_reference or "",
                    ),
                    payment_method=subscription.payment_reference or "",
                    amount_cents=price,
                    currency=subscription.plan.currency,
                    description=f"{subscription.plan.name} subscription renewal",
                    customer_email=account.email,
                )
                if renews and price is not None
                else None
            )
            renewals.append(Renewal(subscription.id, subscription.current_period_end, charge))
        return renewals

    def renewal_price(self, subscription: Subscription) -> int | None:
        """Today's subscription price of the plan; if it is no longer sold, what the
        subscription was bought for; None if neither is known (it is not renewed)."""
        if subscription.plan.subscription_price_cents is not None:
            return subscription.plan.subscription_price_cents
        if subscription.order_id is None:
            return None
        return self.session.scalar(
            select(OrderItem.unit_price_cents).where(
                OrderItem.order_id == subscription.order_id,
                OrderItem.kind == ItemKind.SUBSCRIPTION,
            )
        )

    def settle_renewal(self, renewal: Renewal, result: PaymentResult | None) -> RenewalOutcome:
        """Apply what the provider answered for a renewal (``result``; None: no answer),
        under a row lock, once: a subscription settled meanwhile (another worker, or this
        one before a restart) has moved on and is left alone.

        Paid: one more period (from the end of the last, or from now if that is long
        past), the license follows, a mail says so; money taken is honoured even if
        renewal was turned off meanwhile. Declined: past due (one mail), expired when the
        grace period is over. Renewal off: expired at the end of the period, uncharged."""
        subscription = self.session.get(
            Subscription,
            renewal.subscription_id,
            with_for_update=True,
            options=[selectinload(Subscription.plan)],  # a join would lock the plan too
        )
        if (
            subscription is None
            or subscription.status == SubscriptionStatus.EXPIRED
            or subscription.current_period_end != renewal.period_end
        ):
            return RenewalOutcome.UNCHANGED
        license = self.unit.subscriptions.license_of(subscription)
        if renewal.charge is None:
            return self._expire(subscription, license)
        if result is None:
            return RenewalOutcome.UNCHANGED
        if result.outcome == PaymentOutcome.PAID:
            return self._renew(subscription, license, result)
        if self.now >= subscription.current_period_end + self.grace:
            return self._expire(subscription, license)
        return self._past_due(subscription, result)

    def billed_invoice(self, invoice: BilledRenewal, *, actor: str) -> RenewalOutcome:
        """An invoice of a subscription the payment provider bills itself (Stripe
        Billing): paid, it renews the period exactly as a renewal the worker charged
        (an order that is the invoice, the license's term, the mail); failed, it marks the
        subscription past due. Once per invoice, whatever the deliveries."""
        subscription = self.session.scalar(
            select(Subscription)
            .where(Subscription.provider_subscription_id == invoice.provider_subscription_id)
            .options(selectinload(Subscription.plan))
            .with_for_update()
        )
        if subscription is None or subscription.status == SubscriptionStatus.EXPIRED:
            log.warning(
                "store.billed_invoice_unmatched",
                subscription=invoice.provider_subscription_id,
                invoice=invoice.invoice_id,
            )
            return RenewalOutcome.UNCHANGED
        # The invoice is the renewal's reference: listed with the subscription's invoices.
        result = PaymentResult(
            reference=f"{RENEWAL_PREFIX}{subscription.id}_{invoice.invoice_id}"[:100],
            outcome=invoice.outcome,
            amount_cents=invoice.amount_cents,
            currency=invoice.currency,
            provider_payment_id=invoice.provider_payment_id,
        )
        if invoice.outcome == PaymentOutcome.FAILED:
            return self._past_due(subscription, result, actor=actor)
        if self.session.scalar(select(Order.id).where(Order.payment_reference == result.reference)):
            return RenewalOutcome.UNCHANGED
        license = self.unit.subscriptions.license_of(subscription)
        return self._renew(
            subscription, license, result, period_end=invoice.period_end, actor=actor
        )

    def billed_subscription_ended(self, provider_subscription_id: str, *, actor: str) -> bool:
        """The provider stopped billing a subscription (canceled there, or its retries gave
        up): it expires now, as one whose grace ran out. False if it had already ended."""
        subscription = self.session.scalar(
            select(Subscription)
            .where(Subscription.provider_subscription_id == provider_subscription_id)
            .options(selectinload(Subscription.plan))
            .with_for_update()
        )
        if subscription is None or subscription.status == SubscriptionStatus.EXPIRED:
            return False
        license = self.unit.subscriptions.license_of(subscription)
        self._expire(subscription, license, actor=actor)
        return True

    def _past_due(
        self, subscription: Subscription, result: PaymentResult, *, actor: str = "worker"
    ) -> RenewalOutcome:
        if subscription.status != SubscriptionStatus.ACTIVE:
            return RenewalOutcome.UNCHANGED  # past due already (told once), or canceled
        subscription.status = SubscriptionStatus.PAST_DUE
        subscription.past_due_since = self.now
        self._audit(
            subscription, "store.subscription_past_due", actor=actor, reference=result.reference
        )
        self._mail(
            subscription,
            "subscription_payment_failed",
            amount=self._money(result.amount_cents, result.currency, subscription),
            grace_until=mail_date(subscription.current_period_end + self.grace),
        )
        return RenewalOutcome.PAST_DUE

    def _renew(
        self,
        subscription: Subscription,
        license: License,
        result: PaymentResult,
        *,
        period_end: datetime | None = None,
        actor: str = "worker",
    ) -> RenewalOutcome:
        term = timedelta(days=subscription.plan.term_days)
        start = subscription.current_period_end
        if start + term <= self.now:  # the worker was away for a whole period: pay for one
            start = self.now
        subscription.current_period_start = start
        subscription.current_period_end = start + term
        if period_end is not None and period_end > start:  # as the provider billed it
            subscription.current_period_end = period_end
        subscription.past_due_since = None
        if subscription.status == SubscriptionStatus.CANCELED:
            license.expires_at = subscription.current_period_end  # paid for, not renewed
        else:
            subscription.status = SubscriptionStatus.ACTIVE
            license.expires_at = subscription.current_period_end + self.grace
        if (result.amount_cents, result.currency.upper()) != (
            renewal_amount := self.renewal_price(subscription),
            subscription.plan.currency,
        ):
            log.warning(
                "store.renewal_amount_differs",
                subscription=subscription.id,
                expected=f"{renewal_amount} {subscription.plan.currency}",
                paid=f"{result.amount_cents} {result.currency}",
            )
        invoice = self._invoice(subscription, result)
        self._audit(
            subscription,
            "store.subscription_renewed",
            actor=actor,
            reference=result.reference,
            payment_id=result.provider_payment_id,
            period_end=subscription.current_period_end.isoformat(),
            number=invoice.number,
        )
        self.unit.webhooks.emit(
            "subscription.renewed",
            {
                **events.subscription_data(subscription, subscription.plan.code),
                "order": invoice.number,
                "public_id": license.public_id,
            },
        )
        self._mail(
            subscription,
            "subscription_renewed",
            amount=self._money(result.amount_cents, result.currency, subscription),
            renews_on=mail_date(subscription.current_period_end),
            renews=subscription.status == SubscriptionStatus.ACTIVE,
            invoice_number=invoice.number,
            receipt_url=self.settings.url(f"/account/orders/{invoice.number}/receipt.pdf"),
        )
        return RenewalOutcome.RENEWED

    def _invoice(self, subscription: Subscription, result: PaymentResult) -> Order:
        """The renewal's paid order, at what was charged: the invoice My Account lists."""
        owner = self._owner(subscription)
        first_name = (
            self.session.scalar(
                select(Order.customer_name).where(Order.id == subscription.order_id)
            )
            if subscription.order_id
            else None
        )
        order = self.unit.orders.open_order(
            subscription.plan,
            quantity=1,
            name=first_name or owner.email,
            email=owner.email,
            account_id=owner.id,
            language=owner.language,
            status=OrderStatus.PAID,
            kind=ItemKind.SUBSCRIPTION,
        )
        order.payment_reference = result.reference
        # A provider's refund or dispute notice names the payment: it finds this order.
        order.provider_payment_id = result.provider_payment_id or None
        if order.total_cents != result.amount_cents:  # the price changed: what was taken
            order.total_cents = order.items[0].unit_price_cents = result.amount_cents
        self.session.flush()
        return order

    def _expire(
        self, subscription: Subscription, license: License, *, actor: str = "worker"
    ) -> RenewalOutcome:
        subscription.status = SubscriptionStatus.EXPIRED
        license.expires_at = min(license.expires_at, self.now)
        self._audit(subscription, "store.subscription_expired", actor=actor)
        self.unit.webhooks.emit(
            "subscription.expired",
            {
                **events.subscription_data(subscription, subscription.plan.code),
                "public_id": license.public_id,
            },
        )
        self._mail(subscription, "subscription_expired", store_url=self.settings.url("/store"))
        return RenewalOutcome.EXPIRED

    def _audit(
        self, subscription: Subscription, action: str, *, actor: str = "worker", **details: Any
    ) -> None:
        self.unit.audit(
            action, subject_type="subscription", subject_id=subscription.id, actor=actor, **details
        )

    def _money(self, cents: int, currency: str, subscription: Subscription) -> str:
        return money(cents, currency, self._owner(subscription).language)

    def _owner(self, subscription: Subscription) -> Account:
        return self.session.get_one(Account, subscription.account_id)

    def _mail(self, subscription: Subscription, template: str, **context: object) -> None:
        owner = self._owner(subscription)
        order_number = (
            self.session.scalar(select(Order.number).where(Order.id == subscription.order_id))
            if subscription.order_id
            else None
        )
        self.send_mail(
            owner.email,
            owner.language,
            template,
            plan=subscription.plan.name,
            order_number=order_number,
            subscriptions_url=self.settings.url("/account/subscriptions"),
            help_url=self.settings.url("/help"),
            **context,
        )
