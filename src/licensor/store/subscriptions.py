"""Subscriptions: a plan that renews, bound to an account, with a license and no code.

The license's ``expires_at`` follows the subscription: the end of the paid period plus a
grace period while a renewal is pending or failed, the end of the period once canceled.
Validation needs nothing else: when the grace is over, devices are told ``expired``.
Renewals run in ``licensor worker`` (``run_due``), driven by the clock.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from licensor.errors import LicensorError, NotFound
from licensor.licensing.service import DeviceInfo, LicenseView, Licensing, audit
from licensor.models import (
    Account,
    Activation,
    Device,
    EnrollmentToken,
    License,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from licensor.units import Service

ENROLLMENT_DAYS = 30
ENROLLMENT_PREFIX = "le_"

#: Charges a renewal; True when paid. The store's payment provider supplies it.
Charge = Callable[[Subscription], bool]


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


@dataclass(frozen=True)
class RenewalRun:
    renewed: int = 0
    past_due: int = 0
    expired: int = 0


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
        license = Licensing(self.session, self.keyring, self.settings, self.now).new_license(
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

    def run_due(self, charge: Charge) -> RenewalRun:
        """Renew, retry or expire every subscription whose period has ended."""
        renewed = past_due = expired = 0
        due = self.session.scalars(
            select(Subscription)
            .where(
                Subscription.current_period_end <= self.now,
                Subscription.status != SubscriptionStatus.EXPIRED,
            )
            .order_by(Subscription.id)
            .with_for_update(skip_locked=True)
        ).all()
        for subscription in due:
            license = self._license(subscription)
            if subscription.status == SubscriptionStatus.CANCELED:
                subscription.status = SubscriptionStatus.EXPIRED
                expired += 1
            elif charge(subscription):
                while subscription.current_period_end <= self.now:
                    subscription.current_period_start = subscription.current_period_end
                    subscription.current_period_end += timedelta(days=subscription.plan.term_days)
                subscription.status = SubscriptionStatus.ACTIVE
                subscription.past_due_since = None
                license.expires_at = subscription.current_period_end + self.grace
                renewed += 1
            elif self.now >= subscription.current_period_end + self.grace:
                subscription.status = SubscriptionStatus.EXPIRED
                license.expires_at = min(license.expires_at, self.now)
                expired += 1
            else:
                if subscription.status != SubscriptionStatus.PAST_DUE:
                    subscription.past_due_since = self.now
                subscription.status = SubscriptionStatus.PAST_DUE
                past_due += 1
            audit(
                self.session,
                self.now,
                actor="worker",
                action=f"store.subscription_{subscription.status}",
                subject_type="subscription",
                subject_id=subscription.id,
            )
        self.session.flush()
        return RenewalRun(renewed, past_due, expired)

    def seat_for_connected_device(self, account: Account, device: DeviceInfo) -> LicenseView | None:
        """A device just connected to the account, with no license yet, gets the license of
        the account's newest live subscription when it has a free seat."""
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
                return Licensing(self.session, self.keyring, self.settings, self.now).take_seat(
                    self._license(subscription), device
                )
        except LicensorError:  # no free seat, or the license ended: the device stays as it is
            return None

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
        view = Licensing(self.session, self.keyring, self.settings, self.now).take_seat(
            license, device
        )
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
