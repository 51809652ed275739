"""What a subscriber manages in My Account beyond turning renewal off: what the
subscription costs and when it charges next, the card it charges (changed on the payment
provider's own page), resuming a canceled subscription before its period ends, and its
invoices (the first order, then one paid order per renewal: ``store/renewals.py``).

A card change is a setup with the provider (``PaymentProvider.start_setup``) under a
reference of ours that names the subscription and is signed with a key of ours, so only a
reference this server handed to the subscription's owner can change its card, whoever
posts it; the verified callback (``card_saved``) keeps the new method, mails the owner and
audits it. A subscription past due is charged again with the new card by the worker's next
renewal run (the renewal's idempotency key names the card: ``renewal_reference``), which
makes it active again.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from licensor.errors import AlreadySubscribed, NotFound, PaymentUnknown
from licensor.models import (
    Account,
    License,
    Order,
    OrderStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from licensor.store.orders import money
from licensor.store.payments import CardOnFile, SetupRequest, SetupResult
from licensor.store.renewals import RENEWAL_PREFIX
from licensor.units import Service

CARD_CHANGE_PREFIX = "card_"
CARD_CHANGE_VALID = timedelta(hours=24)  # a provider's callback may come late
LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


@dataclass(frozen=True)
class Invoice:
    """One charge of a subscription: its order (the receipt is the order's)."""

    number: str
    purchased_at: datetime
    total_cents: int
    currency: str
    renewal: bool


@dataclass(frozen=True)
class SubscriptionSummary:
    """A subscription as its page shows it."""

    id: int
    plan_name: str
    status: SubscriptionStatus
    auto_renew: bool
    period_end: datetime  # the next charge (active), or the end (canceled)
    grace_until: datetime  # past due: the license works until then
    public_id: str | None
    devices_max: int
    term_days: int
    price_cents: int | None  # what the next renewal charges; None: it is not renewed
    currency: str
    card: CardOnFile | None
    resumable: bool
    invoices: list[Invoice]

    @property
    def live(self) -> bool:
        return self.status in LIVE


def past_due_plans(session: Session, account_id: int) -> list[str]:
    """The names of the plans an account subscribes to whose renewal payment failed: what
    the banner on every My Account page names."""
    return list(
        session.scalars(
            select(Plan.name)
            .join(Subscription, Subscription.plan_id == Plan.id)
            .where(
                Subscription.account_id == account_id,
                Subscription.status == SubscriptionStatus.PAST_DUE,
            )
            .order_by(Plan.name)
        )
    )


class SubscriptionBilling(Service):
    """Asked for as ``unit.service(SubscriptionBilling)``."""

    def _signature(self, body: str) -> str:
        return self.keyring.mac(body, purpose=b"subscription-card-changes").hex()[:32]

    # reading ----------------------------------------------------------------------------

    def summaries(self, account: Account) -> list[SubscriptionSummary]:
        """The account's subscriptions, newest first, with price, card and invoices."""
        rows = self.session.execute(
            select(Subscription, License.public_id)
            .outerjoin(License, License.id == Subscription.license_id)
            .where(Subscription.account_id == account.id)
            .options(joinedload(Subscription.plan))
            .order_by(Subscription.created_at.desc(), Subscription.id.desc())
        ).all()
        grace = self.unit.subscriptions.grace
        renewals = self.unit.renewals
        return [
            SubscriptionSummary(
                id=subscription.id,
                plan_name=subscription.plan.name,
                status=subscription.status,
                auto_renew=subscription.auto_renew,
                period_end=subscription.current_period_end,
                grace_until=subscription.current_period_end + grace,
                public_id=public_id,
                devices_max=subscription.plan.devices_max,
                term_days=subscription.plan.term_days,
                price_cents=renewals.renewal_price(subscription),
                currency=subscription.plan.currency,
                card=CardOnFile.from_stored(subscription.payment_method),
                resumable=self._resumable(subscription),
                invoices=self.invoices(subscription),
            )
            for subscription, public_id in rows
        ]

    def invoices(self, subscription: Subscription) -> list[Invoice]:
        """Every charge of the subscription, newest first: its first order, and the order
        each paid renewal made (its payment reference is the renewal's)."""
        renewal_orders = Order.payment_reference.startswith(
            f"{RENEWAL_PREFIX}{subscription.id}_", autoescape=True
        )
        first = Order.id == subscription.order_id if subscription.order_id else None
        orders = self.session.scalars(
            select(Order)
            .where(
                Order.account_id == subscription.account_id,
                or_(renewal_orders, first) if first is not None else renewal_orders,
                Order.status.in_([OrderStatus.PAID, OrderStatus.REFUNDED]),
            )
            .order_by(Order.purchased_at.desc(), Order.id.desc())
        )
        return [
            Invoice(
                order.number,
                order.purchased_at,
                order.total_cents,
                order.currency,
                renewal=order.id != subscription.order_id,
            )
            for order in orders
        ]

    def _owned(self, account: Account, subscription_id: int) -> Subscription:
        subscription = self.session.get(
            Subscription,
            subscription_id,
            with_for_update=True,
            options=[selectinload(Subscription.plan)],  # a join would lock the plan too
        )
        if subscription is None or subscription.account_id != account.id:
            raise NotFound("there is no such subscription in your account")
        return subscription

    def _resumable(self, subscription: Subscription) -> bool:
        return (
            subscription.status == SubscriptionStatus.CANCELED
            and subscription.current_period_end > self.now
        )

    def billed_by_provider(self, account: Account, subscription_id: int) -> str | None:
        """The provider's id of the account's subscription when the provider bills it
        itself (Stripe Billing), which must then be told of renewal turned off or on."""
        subscription = self.session.get(Subscription, subscription_id)
        if subscription is None or subscription.account_id != account.id:
            raise NotFound("there is no such subscription in your account")
        return subscription.provider_subscription_id

    # resuming ----------------------------------------------------------------------------

    def resume(self, account: Account, subscription_id: int) -> Subscription:
        """Renew again a subscription canceled before its period ended: nothing is charged
        now; the next renewal is at the end of the period, as before canceling."""
        subscription = self._owned(account, subscription_id)
        if not self._resumable(subscription):
            raise NotFound("this subscription cannot be resumed")
        if self.unit.checkout.live_subscription(account, subscription.plan) is not None:
            raise AlreadySubscribed()
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.auto_renew = True
        subscription.canceled_at = None
        license = self.unit.subscriptions.license_of(subscription)
        license.expires_at = subscription.current_period_end + self.unit.subscriptions.grace
        self.unit.audit(
            "store.subscription_resumed",
            subject_type="subscription",
            subject_id=subscription.id,
            actor=f"account:{account.id}",
        )
        return subscription

    # changing the card ------------------------------------------------------------------

    def card_change(self, account: Account, subscription_id: int) -> SetupRequest:
        """The provider's setup to open for a new card on a live subscription."""
        subscription = self._owned(account, subscription_id)
        if subscription.status not in LIVE:
            raise NotFound("this subscription no longer renews")
        expires = int((self.now + CARD_CHANGE_VALID).timestamp())
        body = f"{subscription.id}_{expires}_{secrets.token_hex(8)}"
        reference = f"{CARD_CHANGE_PREFIX}{body}_{self._signature(body)}"
        self.unit.audit(
            "store.card_change_started",
            subject_type="subscription",
            subject_id=subscription.id,
            actor=f"account:{account.id}",
        )
        return SetupRequest(
            reference=reference,
            customer_email=account.email,
            language=account.language,
            description=f"{subscription.plan.name} subscription: the card for its renewals",
            return_url=self.settings.url("/account/subscriptions?done=card"),
            cancel_url=self.settings.url("/account/subscriptions"),
        )

    def card_change_of(self, reference: str, *, lock: bool = False) -> Subscription:
        """The live subscription a card change reference of ours names (``PaymentUnknown``
        for anything else: forged, expired, or a subscription that no longer renews)."""
        body, _, signature = reference.removeprefix(CARD_CHANGE_PREFIX).rpartition("_")
        parts = body.split("_")
        if (
            not reference.startswith(CARD_CHANGE_PREFIX)
            or len(parts) != 3
            or not all(part.isalnum() for part in parts)
            or not hmac.compare_digest(self._signature(body), signature)
            or not parts[0].isdigit()
            or not parts[1].isdigit()
            or int(parts[1]) < self.now.timestamp()
        ):
            raise PaymentUnknown()
        subscription = self.session.get(
            Subscription,
            int(parts[0]),
            with_for_update=lock,
            options=[selectinload(Subscription.plan)],
        )
        if subscription is None or subscription.status not in LIVE:
            raise PaymentUnknown()
        return subscription

    def card_saved(self, result: SetupResult, *, actor: str) -> Subscription:
        """The provider saved the new card (a verified callback): the subscription charges
        it from now on; its owner is told by mail."""
        subscription = self.card_change_of(result.reference, lock=True)
        if subscription.payment_reference == result.payment_method:
            return subscription  # the same callback again
        subscription.payment_reference = result.payment_method
        subscription.payment_method = result.card.stored() if result.card else None
        owner = self.session.get_one(Account, subscription.account_id)
        self.unit.audit(
            "store.subscription_card_changed",
            subject_type="subscription",
            subject_id=subscription.id,
            actor=actor,
            card=subscription.payment_method,
            past_due=subscription.status == SubscriptionStatus.PAST_DUE,
        )
        price = self.unit.renewals.renewal_price(subscription)
        self.send_mail(
            owner.email,
            owner.language,
            "subscription_card_changed",
            plan=subscription.plan.name,
            card=f"{result.card.brand} •••• {result.card.last4}" if result.card else "",
            past_due=subscription.status == SubscriptionStatus.PAST_DUE,
            amount=(
                money(price, subscription.plan.currency, owner.language)
                if price is not None
                else ""
            ),
            subscriptions_url=self.settings.url("/account/subscriptions"),
            help_url=self.settings.url("/help"),
        )
        return subscription
