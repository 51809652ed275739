"""Subscriptions: a plan that renews, bound to an account, with a license and no code.

The license's ``expires_at`` follows the subscription: the end of the paid period plus a
grace period while a renewal is pending or failed, the end of the period once canceled.
Validation needs nothing else: when the grace is over, devices are told ``expired``.
Renewals are ``store/renewals.py``'s.

The account's devices get the license with no code typed: the installer downloaded from
My Account carries a one-time enrollment token (``enroll``), and a device connected to the
account by its short code takes a free seat (``seat_for_connected_device``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select

from licensor.accounts.service import token_hash
from licensor.config import Settings
from licensor.errors import EnrollmentTokenInvalid, LicensorError, NotFound
from licensor.licensing.service import DeviceInfo, LicenseView
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


def grace_period(settings: Settings) -> timedelta:
    """How long a subscription's license outlives a period whose renewal is not paid yet."""
    return timedelta(days=settings.subscription_grace_days)


class Subscriptions(Service):
    @property
    def grace(self) -> timedelta:
        return grace_period(self.settings)

    def start(
        self,
        account: Account,
        plan: Plan,
        *,
        order_id: int | None = None,
        payment_reference: str | None = None,
        payment_method: str | None = None,
        actor: str = "store",
    ) -> Subscription:
        """A paid subscription from now: its license exists at once, ready for the
        account's devices (no code)."""
        period_end = self.now + timedelta(days=plan.term_days)
        license = self.unit.licenses.new_license(
            plan, expires_at=period_end + self.grace, code=None
        )
        subscription = Subscription(
            account_id=account.id,
            plan=plan,
            order_id=order_id,
            license_id=license.id,
            status=SubscriptionStatus.ACTIVE,
            auto_renew=True,
            current_period_start=self.now,
            current_period_end=period_end,
            payment_reference=payment_reference,
            payment_method=payment_method,
            created_at=self.now,
        )
        self.session.add(subscription)
        self.session.flush()
        self.unit.audit(
            "store.subscription_started",
            subject_type="subscription",
            subject_id=subscription.id,
            actor=actor,
            plan=plan.code,
            account_id=account.id,
        )
        return subscription

    def _owned(self, account: Account, subscription_id: int) -> Subscription:
        subscription = self.session.get(Subscription, subscription_id, with_for_update=True)
        if subscription is None or subscription.account_id != account.id:
            raise NotFound("there is no such subscription in your account")
        return subscription

    def license_of(self, subscription: Subscription) -> License:
        """The subscription's license, locked (after the subscription: docs/adr/0001)."""
        assert subscription.license_id is not None  # every subscription starts with its license
        return self.unit.licenses.get_license(subscription.license_id, lock=True)

    def cancel(self, account: Account, subscription_id: int) -> Subscription:
        """Stop renewing: the license stays good until the paid period ends."""
        subscription = self._owned(account, subscription_id)
        if subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
            subscription.status = SubscriptionStatus.CANCELED
            subscription.auto_renew = False
            subscription.canceled_at = self.now
            license = self.license_of(subscription)
            license.expires_at = max(subscription.current_period_end, self.now)
            self.unit.audit(
                "store.subscription_canceled",
                subject_type="subscription",
                subject_id=subscription.id,
                actor=f"account:{account.id}",
            )
        return subscription

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
                view = self.unit.licensing.take_seat(self.license_of(subscription), device)
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
                token_hash=token_hash(token),
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
            .where(EnrollmentToken.token_hash == token_hash(token.strip()))
            .with_for_update()
        )
        if row is None or row.used_at is not None or row.expires_at <= self.now:
            raise EnrollmentTokenInvalid()
        subscription = self.session.get(Subscription, row.subscription_id)
        assert subscription is not None
        license = self.license_of(subscription)
        view = self.unit.licensing.take_seat(license, device)
        row.used_at = self.now
        row.note = device.name[:200]
        enrolled = self.session.scalar(
            select(Device).where(Device.fingerprint == device.fingerprint)
        )
        if enrolled is not None and enrolled.account_id is None:
            enrolled.account_id = subscription.account_id  # the device joins the account
        self.unit.audit(
            "store.enrolled",
            subject_type="subscription",
            subject_id=subscription.id,
            actor="device",
            public_id=license.public_id,
        )
        return view
