"""A subscription's card, its invoices and the thanks page's token, through the services and
the providers' webhook (issue 14, items 6 and 8): a saved card arrives as a verified
callback like a payment does, is applied once, and only under a reference of ours that is
still valid; each paid renewal is an invoice; the codes are revealed once, to one token."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import Account, Order, OrderStatus, Subscription
from licensor.store.billing import SubscriptionBilling
from licensor.store.checkout import CheckoutForm
from licensor.store.tasks import provider_charge, run_due
from licensor.store.testmode import CardForm, TestProvider
from tests.accounts.factories import Customer, MakeAccount, fresh_email, outbox
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan
from tests.store.factories import PAYS, RENEWALS_DECLINED, card_expiry, paid_with
from tests.support import assert_problem, audit_events

WEBHOOK = "/api/v1/payments/test/webhook"


@pytest.fixture
def subscriber(
    open_unit: OpenUnit, make_plan: MakePlan, make_account: MakeAccount, provider: TestProvider
) -> tuple[Customer, int]:
    """A customer subscribed to Premium with the card whose renewals are declined."""
    make_plan("premium", term_days=30, subscription_price_cents=999)
    customer = make_account()
    with open_unit() as unit:
        account = unit.session.get_one(Account, customer.id)
        payment = unit.checkout.subscribe(
            "premium", name="Carla Verdi", account=account, language="en", actor="test"
        )
    with open_unit() as unit:
        order = unit.checkout.settle(paid_with(provider, payment, RENEWALS_DECLINED), actor="t")
        subscription = unit.orders.subscription(order)
        assert subscription is not None
        return customer, subscription.id


def card_change_reference(open_unit: OpenUnit, customer: Customer, subscription_id: int) -> str:
    with open_unit() as unit:
        account = unit.session.get_one(Account, customer.id)
        return unit.service(SubscriptionBilling).card_change(account, subscription_id).reference


def card_of(database: Database, subscription_id: int) -> tuple[str | None, str | None]:
    with database.transaction() as session:
        row = session.get_one(Subscription, subscription_id)
        return row.payment_method, row.payment_reference


def test_a_card_saved_through_the_webhook_is_applied_once_and_its_owner_told(
    subscriber: tuple[Customer, int],
    open_unit: OpenUnit,
    provider: TestProvider,
    api: httpx.Client,
    database: Database,
) -> None:
    customer, subscription_id = subscriber
    assert card_of(database, subscription_id)[0] == "Visa 0341"
    reference = card_change_reference(open_unit, customer, subscription_id)
    callback = provider.save_card(reference=reference, card=CardForm(PAYS, card_expiry(), "123"))

    answers = [api.post(WEBHOOK, content=callback.body, headers=callback.headers) for _ in "123"]

    assert [(answer.status_code, answer.json()["status"]) for answer in answers] == [
        (200, "saved")
    ] * 3
    method, saved = card_of(database, subscription_id)
    assert method == "Visa 4242"
    assert saved is not None
    assert saved.startswith("tpm_4242_")
    assert len(audit_events(database, "store.subscription_card_changed")) == 1
    assert len(outbox(database, customer.email, "subscription_card_changed")) == 1


def test_an_expired_or_altered_card_change_reference_changes_nothing(
    subscriber: tuple[Customer, int],
    open_unit: OpenUnit,
    provider: TestProvider,
    api: httpx.Client,
    database: Database,
    clock: Clock,
) -> None:
    customer, subscription_id = subscriber
    reference = card_change_reference(open_unit, customer, subscription_id)
    altered = reference[:-1] + ("0" if reference[-1] != "0" else "1")
    callback = provider.save_card(reference=altered, card=CardForm(PAYS, card_expiry(), "123"))
    assert_problem(
        api.post(WEBHOOK, content=callback.body, headers=callback.headers), 404, "payment_unknown"
    )

    clock.advance(timedelta(hours=25))
    callback = provider.save_card(reference=reference, card=CardForm(PAYS, card_expiry(), "123"))
    assert_problem(
        api.post(WEBHOOK, content=callback.body, headers=callback.headers), 404, "payment_unknown"
    )
    assert card_of(database, subscription_id)[0] == "Visa 0341"


def test_a_new_card_is_charged_at_once_for_a_past_due_renewal_and_each_charge_is_an_invoice(
    subscriber: tuple[Customer, int],
    open_unit: OpenUnit,
    provider: TestProvider,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
) -> None:
    customer, subscription_id = subscriber
    clock.advance(timedelta(days=30, minutes=1))
    charge = provider_charge(provider)
    assert run_due(database, keyring, settings, clock.now(), charge).past_due == 1
    # The same day, the same card: the same key, so the same decline.
    assert run_due(database, keyring, settings, clock.now(), charge).renewed == 0

    reference = card_change_reference(open_unit, customer, subscription_id)
    with open_unit() as unit:
        result = provider.verify_setup(
            provider.save_card(reference=reference, card=CardForm(PAYS, card_expiry(), "123"))
        )
        unit.service(SubscriptionBilling).card_saved(result, actor="test")
    assert run_due(database, keyring, settings, clock.now(), charge).renewed == 1

    with open_unit() as unit:
        subscription = unit.session.get_one(Subscription, subscription_id)
        invoices = unit.service(SubscriptionBilling).invoices(subscription)
    assert [(invoice.renewal, invoice.total_cents) for invoice in invoices] == [
        (True, 999),
        (False, 999),
    ]
    with database.transaction() as session:
        renewal = session.scalars(select(Order).where(Order.number == invoices[0].number)).one()
        assert (renewal.status, renewal.account_id) == (OrderStatus.PAID, customer.id)
        assert renewal.payment_reference is not None
        assert renewal.payment_reference.startswith(f"ren_{subscription_id}_")


def test_the_codes_are_revealed_once_and_only_to_the_token_of_the_browser_that_paid(
    open_unit: OpenUnit, make_plan: MakePlan, provider: TestProvider, database: Database
) -> None:
    make_plan("plus", price_cents=3999)
    with open_unit() as unit:
        payment = unit.checkout.start(
            "plus",
            CheckoutForm("2", "Mario Rossi", fresh_email("buyer")),
            account=None,
            language="en",
            actor="test",
        )
        token = unit.checkout.remember_browser(unit.checkout.order(payment.reference))
    with open_unit() as unit:
        unit.checkout.settle(paid_with(provider, payment), actor="test")

    with open_unit() as unit:
        assert unit.checkout.reveal_codes_once(payment.reference, "another", actor="t") == []
        assert unit.checkout.reveal_codes_once(payment.reference, None, actor="t") == []
    with open_unit() as unit:
        shown = unit.checkout.reveal_codes_once(payment.reference, token, actor="t")
    with open_unit() as unit:
        again = unit.checkout.reveal_codes_once(payment.reference, token, actor="t")

    assert (len(shown), again) == (2, [])
    [event] = audit_events(database, "store.codes_shown")
    assert event.details["codes"] == 2
