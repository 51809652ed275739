"""Subscriptions: a plan that renews, bound to an account, with a license and no code.

The license's ``expires_at`` follows the subscription: the end of the paid period plus a
grace period while a renewal is pending or failed, the end of the period once canceled.
Validation needs nothing else: when the grace is over, devices are told ``expired``.

Renewals run in ``licensor worker`` (``licensor.store.tasks.run_due``), driven by the
clock, in three steps so that no transaction is open while the payment provider answers:
``due`` reads what has come to the end of its period and what to charge for it; the
provider charges the saved payment method under our idempotency key; ``settle_renewal``
applies the answer under a row lock, once (see ``tasks.py`` for why outside the lock).
Each renewal, failed payment and expiry writes a mail to the owner.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from licensor.audit import audit
from licensor.errors import LicensorError, NotFound
from licensor.licensing.service import DeviceInfo, LicenseView
from licensor.logging import log
from licensor.models import (
    Account,
    Activation,
    Device,
    EnrollmentToken,
    ItemKind,
    License,
    Order,
    OrderItem,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from licensor.store.payments import PaymentOutcome, PaymentResult, RecurringCharge
from licensor.store.service import money
from licensor.units import Service

ENROLLMENT_DAYS = 30
ENROLLMENT_PREFIX = "le_"
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


class EnrollmentTokenInvalid(LicensorError):
    status = 410
    code = "enrollment_token_invalid"
    title = "This installation link was already used or has expired; download the app again"


@dataclass(frozen=True)
class SubscriptionView:
    id: int
    plan: str
    plan_name: str
    status: str
    auto_renew: bool
    current_period_end: datetime
    public_id: str | None
    devices_max: int
    grace_until: datetime  # past due: the license works until then while payment is retried


@dataclass(frozen=True)
class RenewalRun:
    renewed: int = 0
    past_due: int = 0
    expired: int = 0
    unchanged: int = 0


def renewal_reference(subscription_id: int, period_end: datetime, now: datetime) -> str:
    """Our reference for charging one subscription period, on one day of attempts: the
    provider's idempotency key, so a charge repeated (a worker restarted, two workers)
    answers what the first did and takes the money once."""
    attempt = max(0, (now - period_end) // RETRY_EVERY)
    return f"{RENEWAL_PREFIX}{subscription_id}_{period_end:%Y%m%d%H%M%S}_{attempt}"


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Subscriptions(Service):
    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.settings.subscription_grace_days)

    def start(
        self,
        account: Account,
        plan: Plan,
        *,
        order_id: int | None = None,
        payment_reference: str | None = None,
        actor: str = "store",
    ) -> Subscription:
        """A paid subscription from now: its license exists at once, ready for the
        account's devices (no code)."""
        period_end = self.now + timedelta(days=plan.term_days)
        license = self.unit.licensing.new_license(
            plan, expires_at=period_end + self.grace, code=None
        )
        subscription = Subscription(
            account_id=account.id,
            plan_id=plan.id,
            order_id=order_id,
            license_id=license.id,
            status=SubscriptionStatus.ACTIVE,
            auto_renew=True,
            current_period_start=self.now,
            current_period_end=period_end,
            payment_reference=payment_reference,
            created_at=self.now,
        )
        self.session.add(subscription)
        self.session.flush()
        audit(
            self.session,
            self.now,
            actor=actor,
            action="store.subscription_started",
            subject_type="subscription",
            subject_id=subscription.id,
            plan=plan.code,
            account_id=account.id,
        )
        return subscription

    def of_account(self, account: Account) -> list[SubscriptionView]:
        rows = self.session.execute(
            select(Subscription, License.public_id)
            .outerjoin(License, License.id == Subscription.license_id)
            .where(Subscription.account_id == account.id)
            .order_by(Subscription.created_at.desc())
        ).all()
        return [
            SubscriptionView(
                id=subscription.id,
                plan=subscription.plan.code,
                plan_name=subscription.plan.name,
                status=subscription.status,
                auto_renew=subscription.auto_renew,
                current_period_end=subscription.current_period_end,
                public_id=public_id,
                devices_max=subscription.plan.devices_max,
                grace_until=subscription.current_period_end + self.grace,
            )
            for subscription, public_id in rows
        ]

    def _owned(self, account: Account, subscription_id: int) -> Subscription:
        subscription = self.session.get(Subscription, subscription_id, with_for_update=True)
        if subscription is None or subscription.account_id != account.id:
            raise NotFound("there is no such subscription in your account")
        return subscription

    def _license(self, subscription: Subscription) -> License:
        license = self.session.get(License, subscription.license_id, with_for_update=True)
        assert license is not None  # every subscription is started with its license
        return license

    def cancel(self, account: Account, subscription_id: int) -> Subscription:
        """Stop renewing: the license stays good until the paid period ends."""
        subscription = self._owned(account, subscription_id)
        if subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
            subscription.status = SubscriptionStatus.CANCELED
            subscription.auto_renew = False
            subscription.canceled_at = self.now
            self._license(subscription).expires_at = max(subscription.current_period_end, self.now)
            audit(
                self.session,
                self.now,
                actor=f"account:{account.id}",
                action="store.subscription_canceled",
                subject_type="subscription",
                subject_id=subscription.id,
            )
        return subscription

    # renewals --------------------------------------------------------------------------

    def due(self, *, after_id: int = 0, limit: int = 100) -> list[Renewal]:
        """Subscriptions whose period has ended (by id, after ``after_id``), and what to
        charge for each. Reads only: nothing is locked while the provider is asked."""
        rows = self.session.execute(
            select(Subscription, Account)
            .join(Account, Account.id == Subscription.account_id)
            .where(
                Subscription.current_period_end <= self.now,
                Subscription.status != SubscriptionStatus.EXPIRED,
                Subscription.id > after_id,
            )
            .order_by(Subscription.id)
            .limit(limit)
        ).all()
        renewals: list[Renewal] = []
        for subscription, account in rows:
            price = self._renewal_price(subscription)
            renews = (
                subscription.auto_renew
                and subscription.status != SubscriptionStatus.CANCELED
                and price is not None
            )
            charge = (
                RecurringCharge(
                    reference=renewal_reference(
                        subscription.id, subscription.current_period_end, self.now
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

    def _renewal_price(self, subscription: Subscription) -> int | None:
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
        subscription = self.session.get(Subscription, renewal.subscription_id, with_for_update=True)
        if (
            subscription is None
            or subscription.status == SubscriptionStatus.EXPIRED
            or subscription.current_period_end != renewal.period_end
        ):
            return RenewalOutcome.UNCHANGED
        license = self._license(subscription)
        if renewal.charge is None:
            return self._expire(subscription, license)
        if result is None:
            return RenewalOutcome.UNCHANGED
        if result.outcome == PaymentOutcome.PAID:
            return self._renew(subscription, license, result)
        if self.now >= subscription.current_period_end + self.grace:
            return self._expire(subscription, license)
        if subscription.status != SubscriptionStatus.ACTIVE:
            return RenewalOutcome.UNCHANGED  # past due already (told once), or canceled
        subscription.status = SubscriptionStatus.PAST_DUE
        subscription.past_due_since = self.now
        self._audit(subscription, "store.subscription_past_due", reference=result.reference)
        self._mail(
            subscription,
            "subscription_payment_failed",
            amount=self._money(result.amount_cents, result.currency, subscription),
            grace_until=(subscription.current_period_end + self.grace).strftime("%Y-%m-%d"),
        )
        return RenewalOutcome.PAST_DUE

    def _renew(
        self, subscription: Subscription, license: License, result: PaymentResult
    ) -> RenewalOutcome:
        term = timedelta(days=subscription.plan.term_days)
        start = subscription.current_period_end
        if start + term <= self.now:  # the worker was away for a whole period: pay for one
            start = self.now
        subscription.current_period_start = start
        subscription.current_period_end = start + term
        subscription.past_due_since = None
        if subscription.status == SubscriptionStatus.CANCELED:
            license.expires_at = subscription.current_period_end  # paid for, not renewed
        else:
            subscription.status = SubscriptionStatus.ACTIVE
            license.expires_at = subscription.current_period_end + self.grace
        if (result.amount_cents, result.currency.upper()) != (
            renewal_amount := self._renewal_price(subscription),
            subscription.plan.currency,
        ):
            log.warning(
                "store.renewal_amount_differs",
                subscription=subscription.id,
                expected=f"{renewal_amount} {subscription.plan.currency}",
                paid=f"{result.amount_cents} {result.currency}",
            )
        self._audit(
            subscription,
            "store.subscription_renewed",
            reference=result.reference,
            payment_id=result.provider_payment_id,
            period_end=subscription.current_period_end.isoformat(),
        )
        self._mail(
            subscription,
            "subscription_renewed",
            amount=self._money(result.amount_cents, result.currency, subscription),
            renews_on=subscription.current_period_end.strftime("%Y-%m-%d"),
            renews=subscription.status == SubscriptionStatus.ACTIVE,
        )
        return RenewalOutcome.RENEWED

    def _expire(self, subscription: Subscription, license: License) -> RenewalOutcome:
        subscription.status = SubscriptionStatus.EXPIRED
        license.expires_at = min(license.expires_at, self.now)
        self._audit(subscription, "store.subscription_expired")
        self._mail(subscription, "subscription_expired", store_url=self.settings.url("/store"))
        return RenewalOutcome.EXPIRED

    def _audit(self, subscription: Subscription, action: str, **details: Any) -> None:
        audit(
            self.session,
            self.now,
            actor="worker",
            action=action,
            subject_type="subscription",
            subject_id=subscription.id,
            **details,
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

    def seat_for_connected_device(self, account: Account, device: DeviceInfo) -> LicenseView | None:
        """A device just connected to the account, with no license yet, gets the license of
        the account's newest live subscription when it has a free seat.

        The seat goes to whoever holds the device code, under the fingerprint it sent,
        which proves nothing: a machine new to us is registered and connected to the
        account; a known one connected to another account gets nothing; a known one
        connected to none keeps its name and stays unconnected. So no machine's device
        row is claimed or renamed this way."""
        known = self.session.scalar(select(Device).where(Device.fingerprint == device.fingerprint))
        if known is not None and known.account_id not in (None, account.id):
            return None
        if known is not None and known.account_id is None:
            device = DeviceInfo(known.fingerprint, known.name, known.platform)
        licensed = self.session.scalar(
            select(Activation.id)
            .join(Device, Device.id == Activation.device_id)
            .where(Device.fingerprint == device.fingerprint, Activation.released_at.is_(None))
            .limit(1)
        )
        if licensed is not None:
            return None
        subscription = self.session.scalar(
            select(Subscription)
            .where(
                Subscription.account_id == account.id,
                Subscription.status.in_(
                    [
                        SubscriptionStatus.ACTIVE,
                        SubscriptionStatus.PAST_DUE,
                        SubscriptionStatus.CANCELED,
                    ]
                ),
            )
            .order_by(Subscription.current_period_end.desc())
        )
        if subscription is None:
            return None
        try:
            with self.session.begin_nested():
                view = self.unit.licensing.take_seat(self._license(subscription), device)
        except LicensorError:  # no free seat, or the license ended: the device stays as it is
            return None
        if known is None:  # registered just now, by this connection: the account's machine
            self.session.scalars(
                select(Device).where(Device.fingerprint == device.fingerprint)
            ).one().account_id = account.id
        return view

    # enrollment (F1) -------------------------------------------------------------------

    def enrollment_token(self, account: Account, subscription_id: int) -> str:
        """A one-time token for the installer downloaded from My Account."""
        subscription = self._owned(account, subscription_id)
        token = ENROLLMENT_PREFIX + secrets.token_urlsafe(24)
        self.session.add(
            EnrollmentToken(
                token_hash=_token_hash(token),
                subscription_id=subscription.id,
                created_at=self.now,
                expires_at=self.now + timedelta(days=ENROLLMENT_DAYS),
            )
        )
        self.session.flush()
        return token

    def enroll(self, token: str, device: DeviceInfo) -> LicenseView:
        """The app's first start: the token is spent and the device takes a seat on the
        subscription's license. A used, unknown or expired token is one refusal."""
        row = self.session.scalar(
            select(EnrollmentToken)
            .where(EnrollmentToken.token_hash == _token_hash(token.strip()))
            .with_for_update()
        )
        if row is None or row.used_at is not None or row.expires_at <= self.now:
            raise EnrollmentTokenInvalid()
        subscription = self.session.get(Subscription, row.subscription_id)
        assert subscription is not None
        license = self._license(subscription)
        view = self.unit.licensing.take_seat(license, device)
        row.used_at = self.now
        row.note = device.name[:200]
        enrolled = self.session.scalar(
            select(Device).where(Device.fingerprint == device.fingerprint)
        )
        if enrolled is not None and enrolled.account_id is None:
            enrolled.account_id = subscription.account_id  # the device joins the account
        audit(
            self.session,
            self.now,
            actor="device",
            action="store.enrolled",
            subject_type="subscription",
            subject_id=subscription.id,
            public_id=license.public_id,
        )
        return view
