"""Renewals charged by the payment provider from ``licensor worker``, as the clock moves:
paid → one more period (the license lasts longer); declined → past due with a mail, then
expired after the grace (devices told ``expired``); renewal off → never charged.

The worker runs in a thread as ``licensor worker`` does (mail and renewals in one loop),
with the built-in test provider: a subscription paid with 4242 renews, one paid with
4000 0000 0000 0341 is declined at each renewal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.sender import SmtpSender
from licensor.models import Account, Subscription
from licensor.store.payments import (
    PaymentOutcome,
    PaymentResult,
    RecurringCharge,
)
from licensor.store.renewals import RenewalOutcome
from licensor.store.tasks import run_due
from licensor.store.testmode import TestProvider
from licensor.web.i18n import format_date
from licensor.worker import build_worker
from tests.accounts.factories import Customer, MakeAccount, outbox
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan, device, validate
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import PAYS, RENEWALS_DECLINED, EnrollmentTokenFor, paid_with

TERM = timedelta(days=30)
GRACE = timedelta(days=7)  # settings.subscription_grace_days


class RecordingProvider(TestProvider):
    """The test provider, noting every renewal it is asked to charge."""

    __test__ = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.charged: list[RecurringCharge] = []
        self.during_charge: Callable[[RecurringCharge], None] | None = None

    def charge(self, charge: RecurringCharge) -> PaymentResult:
        self.charged.append(charge)
        if self.during_charge is not None:
            self.during_charge(charge)
        return super().charge(charge)


@dataclass(frozen=True)
class Subscriber:
    customer: Customer
    subscription_id: int
    license_key: str
    fingerprint: str


@pytest.fixture
def provider(settings: Settings, keyring: Keyring, clock: Clock) -> RecordingProvider:
    return RecordingProvider(settings, keyring, clock.now)


@pytest.fixture
def worker(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    smtp: SmtpServer,
    provider: RecordingProvider,
) -> Iterator[SmtpServer]:
    """``licensor worker`` in a thread: renewals (each clock minute) and mail to ``smtp``."""
    sender = SmtpSender(smtp.url, keyring, settings.mail_from, timeout=10)
    worker = build_worker(database, keyring, settings, clock.now, sender=sender, provider=provider)
    with worker.running(idle_seconds=0.05):
        yield smtp


@pytest.fixture
def subscriber(
    api: httpx.Client,
    open_unit: OpenUnit,
    make_account: MakeAccount,
    make_plan: MakePlan,
    enrollment_token: EnrollmentTokenFor,
    provider: RecordingProvider,
) -> Callable[[str], Subscriber]:
    """A customer who subscribed in the store with ``card``, and a device enrolled on it."""
    make_plan("premium", term_days=30, devices_max=3, subscription_price_cents=999)

    def make(card: str) -> Subscriber:
        customer = make_account()
        with open_unit() as unit:
            account = unit.session.get_one(Account, customer.id)
            payment = unit.checkout.subscribe(
                "premium", name="Carla Verdi", account=account, language="en", actor="test"
            )
        with open_unit() as unit:
            order = unit.checkout.settle(paid_with(provider, payment, card), actor="test")
            subscription_id = unit.session.scalars(
                select(Subscription.id).where(Subscription.order_id == order.id)
            ).one()
        token = enrollment_token(customer.id, subscription_id)
        machine = device()
        enrolled = api.post("/api/v1/enrollments", json={"token": token, "device": machine})
        assert enrolled.status_code == 201, enrolled.text
        return Subscriber(
            customer, subscription_id, enrolled.json()["license_key"], machine["fingerprint"]
        )

    return make


def subscription(database: Database, subscription_id: int) -> Subscription:
    with database.transaction() as session:
        row = session.get_one(Subscription, subscription_id)
        session.expunge(row)
        return row


def wait_for(
    database: Database, subscription_id: int, test: Callable[[Subscription], bool]
) -> Subscription:
    deadline = time.monotonic() + 20
    while True:
        row = subscription(database, subscription_id)
        if test(row):
            return row
        assert time.monotonic() < deadline, f"still {row.status}, ends {row.current_period_end}"
        time.sleep(0.05)


def expires_at(answer: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(answer["expires_at"]).replace("Z", "+00:00"))


def test_the_worker_renews_a_paid_subscription_and_the_license_lasts_a_period_longer(
    api: httpx.Client,
    database: Database,
    clock: Clock,
    subscriber: Callable[[str], Subscriber],
    provider: RecordingProvider,
    worker: SmtpServer,
) -> None:
    owner = subscriber(PAYS)
    first_end = subscription(database, owner.subscription_id).current_period_end
    before = expires_at(validate(api, owner.license_key, owner.fingerprint))

    clock.advance(TERM + timedelta(minutes=1))
    renewed = wait_for(
        database, owner.subscription_id, lambda row: row.current_period_end > first_end
    )

    assert (renewed.status, renewed.current_period_end) == ("active", first_end + TERM)
    checked = validate(api, owner.license_key, owner.fingerprint)
    assert checked["valid"] is True
    assert expires_at(checked) == before + TERM
    [charge] = provider.charged
    assert (charge.amount_cents, charge.currency) == (999, "EUR")
    assert charge.payment_method == renewed.payment_reference
    mail = worker.inbox.to(owner.customer.email, "renewed")
    assert f"It renews again on {format_date(renewed.current_period_end, 'en')}" in text_of(mail)


def test_a_declined_renewal_is_past_due_with_a_mail_then_expired_after_the_grace(
    api: httpx.Client,
    database: Database,
    clock: Clock,
    subscriber: Callable[[str], Subscriber],
    provider: RecordingProvider,
    worker: SmtpServer,
) -> None:
    owner = subscriber(RENEWALS_DECLINED)

    clock.advance(TERM + timedelta(minutes=1))
    wait_for(database, owner.subscription_id, lambda row: row.status == "past_due")
    failed = worker.inbox.to(owner.customer.email, "payment for your Premium subscription failed")
    assert "declined" in text_of(failed)
    assert validate(api, owner.license_key, owner.fingerprint)["valid"] is True  # in grace

    clock.advance(GRACE)
    wait_for(database, owner.subscription_id, lambda row: row.status == "expired")

    checked = validate(api, owner.license_key, owner.fingerprint)
    assert (checked["valid"], checked["status"]) == (False, "expired")
    worker.inbox.to(owner.customer.email, "has ended")
    # Tried on the first day and once more at the end of the grace, not once a loop.
    assert len({charge.reference for charge in provider.charged}) == 2
    assert [mail.template for mail in outbox(database, owner.customer.email)] == [
        "subscription_confirmation",
        "subscription_payment_failed",
        "subscription_expired",
    ]


def test_a_canceled_subscription_is_not_charged_and_expires_at_the_end_of_its_period(
    api: httpx.Client,
    database: Database,
    clock: Clock,
    subscriber: Callable[[str], Subscriber],
    provider: RecordingProvider,
    worker: SmtpServer,
    open_unit: OpenUnit,
) -> None:
    owner = subscriber(PAYS)
    with open_unit() as unit:
        unit.subscriptions.cancel(
            unit.session.get_one(Account, owner.customer.id), owner.subscription_id
        )

    clock.advance(TERM + timedelta(minutes=1))
    wait_for(database, owner.subscription_id, lambda row: row.status == "expired")

    assert provider.charged == []
    checked = validate(api, owner.license_key, owner.fingerprint)
    assert (checked["valid"], checked["status"]) == (False, "expired")
    worker.inbox.to(owner.customer.email, "has ended")


def test_no_transaction_waits_on_the_provider_and_a_payment_taken_meanwhile_is_honoured(
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    subscriber: Callable[[str], Subscriber],
    provider: RecordingProvider,
    open_unit: OpenUnit,
) -> None:
    """While the provider charges, the customer turns renewal off: that takes the
    subscription's row lock, so it would wait (forever, here) if the worker held it. The
    payment went through, so the period it paid for is kept, and then it ends."""
    owner = subscriber(PAYS)
    first_end = subscription(database, owner.subscription_id).current_period_end
    canceled = threading.Event()

    def cancel_meanwhile(_: RecurringCharge) -> None:
        def cancel() -> None:
            with open_unit() as unit:
                unit.subscriptions.cancel(
                    unit.session.get_one(Account, owner.customer.id), owner.subscription_id
                )
            canceled.set()

        thread = threading.Thread(target=cancel, daemon=True)
        thread.start()
        thread.join(timeout=10)

    provider.during_charge = cancel_meanwhile
    clock.advance(TERM + timedelta(minutes=1))

    run = run_due(database, keyring, settings, clock.now(), provider.charge)

    assert canceled.is_set()
    assert run.renewed == 1
    row = subscription(database, owner.subscription_id)
    assert (row.status, row.auto_renew, row.current_period_end) == (
        "canceled",
        False,
        first_end + TERM,
    )
    checked = validate(api, owner.license_key, owner.fingerprint)
    assert checked["valid"] is True
    assert expires_at(checked) == first_end + TERM  # the paid period, no grace: no renewal
    provider.during_charge = None
    clock.advance(TERM)
    assert run_due(database, keyring, settings, clock.now(), provider.charge).expired == 1
    assert len(provider.charged) == 1


def test_a_renewal_settled_twice_renews_once(
    database: Database,
    clock: Clock,
    open_unit: OpenUnit,
    subscriber: Callable[[str], Subscriber],
    provider: RecordingProvider,
) -> None:
    """Two workers read the same due subscription: both present the same reference (the
    provider takes the money once), and the second to settle finds it moved on."""
    owner = subscriber(PAYS)
    clock.advance(TERM + timedelta(minutes=1))
    with open_unit() as unit:
        seen_by_first = unit.renewals.due()
    with open_unit() as unit:
        seen_by_second = unit.renewals.due()
    assert [renewal.charge for renewal in seen_by_first] == [
        renewal.charge for renewal in seen_by_second
    ]

    outcomes = []
    for [renewal] in (seen_by_first, seen_by_second):
        assert renewal.charge is not None
        result = provider.charge(renewal.charge)
        with open_unit() as unit:
            outcomes.append(unit.renewals.settle_renewal(renewal, result))

    assert outcomes == [RenewalOutcome.RENEWED, RenewalOutcome.UNCHANGED]
    assert subscription(database, owner.subscription_id).current_period_end > clock.now()
    templates = [mail.template for mail in outbox(database, owner.customer.email)]
    assert templates.count("subscription_renewed") == 1


def test_a_renewal_the_provider_cannot_answer_changes_nothing_and_is_tried_again(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    subscriber: Callable[[str], Subscriber],
) -> None:
    from licensor.errors import PaymentUnavailable

    owner = subscriber(PAYS)
    clock.advance(TERM + timedelta(minutes=1))
    references: list[str] = []

    def unavailable(charge: RecurringCharge) -> PaymentResult:
        references.append(charge.reference)
        raise PaymentUnavailable("the provider timed out")

    def pays(charge: RecurringCharge) -> PaymentResult:
        references.append(charge.reference)
        return PaymentResult(charge.reference, PaymentOutcome.PAID, 999, "EUR")

    assert run_due(database, keyring, settings, clock.now(), unavailable).unchanged == 1
    assert subscription(database, owner.subscription_id).status == "active"
    assert run_due(database, keyring, settings, clock.now(), pays).renewed == 1
    assert references[0] == references[1]  # the same key: at most one payment
