"""Expiry reminders: a mail some days before a license or a subscription ends
(``LICENSOR_EXPIRY_REMINDER_DAYS``, by default 30, 7 and 1), in its owner's language.

A code's license ends at its ``expires_at``; a subscription at the end of its paid period
(its license lasts a grace period longer while a renewal is pending). A subscription that
renews by itself is told when it renews and how to change that instead.

Each reminder is sent at most once per license, term end and days-before: the row in
``expiry_reminders`` (unique on the three) is written by an INSERT that does nothing on a
conflict, in the same transaction as the outbox mail. Two workers racing insert one row,
and only the one that inserted it writes the mail; a worker that dies before committing
leaves neither behind. A renewed term has another end, so it gets reminders of its own.
Thresholds are scanned from the nearest: a license found 5 days before its end gets the
7-day reminder only (never the 30-day one after it), and a term no longer than a
threshold never gets that one (a 30-day plan is not reminded on its first day).

A license that nobody can be mailed about (a printed card never joined to an account) or
whose renewal already waits (an unused code of the same plan in the account) gets its row
too, without a mail, so that the next scan does not read it again.

Unsubscribing is per license: a signed link in each reminder (and its List-Unsubscribe
header), or the toggle in My Account; both set ``licenses.reminders_off_at``. The worker's
periodic scan is ``reminder_scan.py``.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from babel.dates import format_date
from sqlalchemy import ColumnElement, Table, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from licensor.config import Settings
from licensor.errors import NotFound
from licensor.keys import Keyring, b64url
from licensor.logging import log
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    CodeState,
    ExpiryReminder,
    License,
    Order,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from licensor.units import Service

BATCH = 200  # licenses read at once, per threshold
UNSUBSCRIBE_PURPOSE = b"expiry_reminders.unsubscribe"
# A subscription is reminded while it may still renew or is canceled but paid for.
REMINDED_SUBSCRIPTIONS = (SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED)

_REMINDERS = cast(Table, ExpiryReminder.__table__)
_INSERT_REMINDER = {
    "postgresql": postgresql.insert(_REMINDERS)
    .on_conflict_do_nothing(constraint="uq_expiry_reminders_license_term_days")
    .returning(_REMINDERS.c.id),
    "sqlite": sqlite.insert(_REMINDERS)
    .on_conflict_do_nothing(index_elements=["license_id", "expires_at", "days"])
    .returning(_REMINDERS.c.id),
}


def reminder_days(settings: Settings) -> tuple[int, ...]:
    """The days-before of the setting, nearest first, each once."""
    return tuple(sorted({int(part) for part in settings.expiry_reminder_days.split(",")}))


def unsubscribe_token(keyring: Keyring, public_id: str) -> str:
    """The unsubscribe link's token for one license: its public ID, signed. The ID alone
    is no secret (it is said on the phone); the signature proves the link came from us."""
    return f"{public_id}.{_signature(keyring, public_id)}"


def unsubscribe_path(token: str) -> str:
    return f"/reminders/unsubscribe/{token}"


def _signature(keyring: Keyring, public_id: str) -> str:
    return b64url(keyring.mac(public_id, purpose=UNSUBSCRIBE_PURPOSE)[:18])


def _public_id_of(keyring: Keyring, token: str) -> str | None:
    public_id, _, signature = token.partition(".")
    if not public_id or len(token) > 100:
        return None
    expected = _signature(keyring, public_id)
    return public_id if hmac.compare_digest(expected, signature) else None


@dataclass(frozen=True)
class DueReminder:
    """A license that has come within ``days`` of its term's end, not reminded for it."""

    license_id: int
    term_end: datetime
    days: int
    subscription_id: int | None


@dataclass(frozen=True)
class Owner:
    email: str
    language: str
    account_id: int | None


@dataclass(frozen=True)
class ReminderSetting:
    """A license's reminders as My Account shows them."""

    public_id: str
    on: bool


class Reminders(Service):
    """Expiry reminders, in one unit of work (``unit.reminders``)."""

    def due(self, days: int, *, limit: int = BATCH) -> list[DueReminder]:
        """Up to ``limit`` licenses and subscriptions ending within ``days`` that have no
        reminder for this term at ``days`` or nearer; reads only."""
        horizon = self.now + timedelta(days=days)
        # Codes' licenses, by their own end (``licenses.expires_at``).
        codes = self.session.execute(
            select(License.id, License.expires_at)
            .join(Plan, Plan.id == License.plan_id)
            .where(
                License.expires_at > self.now,
                License.expires_at <= horizon,
                License.code_id.is_not(None),
                License.blocked_at.is_(None),
                License.reminders_off_at.is_(None),
                Plan.term_days > days,
                _not_reminded(days, License.expires_at),
            )
            .order_by(License.expires_at, License.id)
            .limit(limit)
        ).all()
        found = [DueReminder(license_id, end, days, None) for license_id, end in codes]
        # Subscriptions, by the end of the paid period (``current_period_end``).
        subscriptions = self.session.execute(
            select(License.id, Subscription.current_period_end, Subscription.id)
            .join(Subscription, Subscription.license_id == License.id)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(
                Subscription.current_period_end > self.now,
                Subscription.current_period_end <= horizon,
                Subscription.status.in_(REMINDED_SUBSCRIPTIONS),
                License.blocked_at.is_(None),
                License.reminders_off_at.is_(None),
                Plan.term_days > days,
                _not_reminded(days, Subscription.current_period_end),
            )
            .order_by(Subscription.current_period_end, Subscription.id)
            .limit(limit)
        ).all()
        found += [
            DueReminder(license_id, end, days, subscription_id)
            for license_id, end, subscription_id in subscriptions
        ]
        return found

    def send(self, due: DueReminder) -> bool:
        """Record the reminder and, if this is the one transaction that recorded it and
        the license is still as found, write its mail; True when a mail was written."""
        insert = _INSERT_REMINDER[self.session.get_bind().dialect.name]
        recorded = self.session.execute(
            insert,
            {
                "license_id": due.license_id,
                "expires_at": due.term_end,
                "days": due.days,
                "sent_at": self.now,
            },
        ).scalar()
        if recorded is None:  # another worker's (or an earlier run's)
            return False
        license = self.unit.licenses.get_license(due.license_id)
        subscription = (
            self.session.get(Subscription, due.subscription_id)
            if due.subscription_id is not None
            else None
        )
        if not self._still_due(license, subscription, due):
            return False
        owner = self._owner(license, subscription)
        if owner is None or (subscription is None and self._renewal_waiting(license, owner)):
            log.info("licensing.expiry_reminder_skipped", license=license.id, days=due.days)
            return False
        self._mail(license, subscription, owner, due)
        self.unit.audit(
            "licensing.expiry_reminder_sent",
            subject_type="license",
            subject_id=license.id,
            actor="worker",
            public_id=license.public_id,
            days=due.days,
            term_end=due.term_end.isoformat(),
            to=owner.email,
        )
        return True

    # unsubscribing ---------------------------------------------------------------------

    def by_token(self, token: str) -> License:
        """The license an unsubscribe link names; NotFound for any other token."""
        public_id = _public_id_of(self.keyring, token)
        license = (
            self.session.scalar(select(License).where(License.public_id == public_id))
            if public_id is not None
            else None
        )
        if license is None:
            raise NotFound("this unsubscribe link is not valid")
        return license

    def unsubscribe(self, token: str, *, actor: str) -> License:
        """Turn off the reminders of the license a signed link names (no sign-in)."""
        license = self.by_token(token)
        self._turn(license, False, actor=actor, via="link")
        return license

    def setting(self, account: Account, public_id: str) -> ReminderSetting:
        """Whether the account's license sends reminders; NotFound unless it is the
        account's (a code in it, or its subscription)."""
        license = self._account_license(account, public_id)
        return ReminderSetting(license.public_id, license.reminders_off_at is None)

    def set_for_account(self, account: Account, public_id: str, on: bool) -> License:
        """The owner turns a license's reminders on or off in My Account."""
        license = self._account_license(account, public_id)
        self._turn(license, on, actor=f"account:{account.id}", via="account")
        return license

    def _turn(self, license: License, on: bool, *, actor: str, via: str) -> None:
        if on == (license.reminders_off_at is None):
            return
        license.reminders_off_at = None if on else self.now
        self.unit.audit(
            "licensing.expiry_reminders_on" if on else "licensing.expiry_reminders_off",
            subject_type="license",
            subject_id=license.id,
            actor=actor,
            public_id=license.public_id,
            via=via,
        )

    def _account_license(self, account: Account, public_id: str) -> License:
        named = select(License).where(License.public_id == public_id.strip().upper())
        by_code = named.join(ActivationCode, ActivationCode.id == License.code_id).where(
            ActivationCode.account_id == account.id
        )
        by_subscription = named.join(Subscription, Subscription.license_id == License.id).where(
            Subscription.account_id == account.id
        )
        license = self.session.scalar(by_code) or self.session.scalar(by_subscription)
        if license is None:
            raise NotFound("there is no such license in your account")
        return license

    # the mail --------------------------------------------------------------------------

    def _still_due(
        self, license: License, subscription: Subscription | None, due: DueReminder
    ) -> bool:
        if license.blocked_at is not None or license.reminders_off_at is not None:
            return False
        if subscription is None:
            return license.expires_at == due.term_end and license.expires_at > self.now
        return (
            subscription.status in REMINDED_SUBSCRIPTIONS
            and subscription.current_period_end == due.term_end
        )

    def _owner(self, license: License, subscription: Subscription | None) -> Owner | None:
        """Who is told: the account (its language); for a code in none, the address and
        language of the order that delivered it; else nobody."""
        code = license.activation_code
        account_id = subscription.account_id if subscription else code.account_id if code else None
        if account_id is not None:
            account = self.session.get_one(Account, account_id)
            return Owner(account.email, account.language, account.id)
        if code is not None and code.order_id is not None:
            order = self.session.get_one(Order, code.order_id)
            return Owner(order.customer_email, order.language, None)
        return None

    def _renewal_waiting(self, license: License, owner: Owner) -> bool:
        """The owner already holds an unused code of the same plan, bought during this
        term: the renewal is done, only its activation waits."""
        unused = select(ActivationCode.id).where(
            ActivationCode.plan_id == license.plan_id,
            ActivationCode.state == CodeState.ISSUED,
            ActivationCode.created_at >= license.starts_at,
        )
        if owner.account_id is not None:
            unused = unused.where(ActivationCode.account_id == owner.account_id)
        else:
            unused = unused.join(Order, Order.id == ActivationCode.order_id).where(
                Order.customer_email == owner.email
            )
        return self.session.scalar(unused.limit(1)) is not None

    def _mail(
        self,
        license: License,
        subscription: Subscription | None,
        owner: Owner,
        due: DueReminder,
    ) -> None:
        plan = license.plan
        sold = plan.retired_at is None and (
            plan.subscription_price_cents if subscription else plan.price_cents
        )
        # In the owner's language, whoever's browser opens it.
        unsubscribe_url = self.settings.url(
            unsubscribe_path(unsubscribe_token(self.keyring, license.public_id))
            + f"?lang={owner.language}"
        )
        seats = self.session.scalar(
            select(func.count(Activation.id)).where(
                Activation.license_id == license.id, Activation.released_at.is_(None)
            )
        )
        context: dict[str, Any] = {
            "kind": _kind(subscription),
            "plan": plan.name,
            "public_id": license.public_id,
            "ends_on": long_date(due.term_end, owner.language),
            "days_left": max(1, math.ceil((due.term_end - self.now) / timedelta(days=1))),
            "devices": seats or 0,
            "card": subscription.payment_method if subscription else None,
            "renew_url": self.settings.url(f"/store/{plan.code}" if sold else "/store"),
            "account_url": (
                self.settings.url("/account/subscriptions" if subscription else "/account/licenses")
                if owner.account_id is not None
                else None
            ),
            "unsubscribe_url": unsubscribe_url,
        }
        self.send_mail(
            owner.email,
            owner.language,
            "expiry_reminder",
            headers={
                "List-Unsubscribe": f"<{unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            **context,
        )


def long_date(moment: datetime, language: str) -> str:
    """The day as a letter says it in ``language``: "5 December 2026", "1º dicembre 2026"
    (Italian reads the first of the month as an ordinal)."""
    said = format_date(moment.date(), format="long", locale=language)
    return f"1º{said[1:]}" if language == "it" and moment.day == 1 else said


def _not_reminded(days: int, term_end: Any) -> ColumnElement[bool]:
    """No reminder of this term at ``days`` or nearer has been recorded."""
    return ~exists().where(
        ExpiryReminder.license_id == License.id,
        ExpiryReminder.expires_at == term_end,
        ExpiryReminder.days <= days,
    )


def _kind(subscription: Subscription | None) -> str:
    """What the mail says: a code's license ends; a subscription renews, or ends."""
    if subscription is None:
        return "license"
    renews = subscription.auto_renew and subscription.status == SubscriptionStatus.ACTIVE
    return "renews" if renews else "ends"
