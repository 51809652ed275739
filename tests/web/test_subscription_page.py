"""My Account's subscription page (issue 14, item 6) as a subscriber clicks it, in Chromium:
price and next charge, the card on file and its change through the test payment
provider's own page, renewal turned off and resumed, a failed renewal's banner on every
My Account page and its fix (a new card, the worker's next run charges it, active again),
and each charge listed as an invoice whose receipt opens. In English and Italian.

Subscriptions start as the store starts them (a checkout settled with a test card), and
renewals run as ``licensor worker`` runs them (``run_due`` with the provider's charge)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import Page, expect

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import Account, Subscription, SubscriptionStatus
from licensor.store.renewals import RenewalRun
from licensor.store.tasks import provider_charge, run_due
from licensor.store.testmode import TestProvider
from tests.accounts.factories import PASSWORD, MakeAccount, OpenBrowser, outbox
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan
from tests.store.factories import DECLINED, PAYS, RENEWALS_DECLINED, card_expiry, paid_with
from tests.support import audit_events
from tests.web.accessibility import Audit, axe_script
from tests.web.conftest import sign_in, sign_in_italian

Subscribe = Callable[[int, str], int]
Renew = Callable[[], RenewalRun]


@pytest.fixture
def subscribe(open_unit: OpenUnit, make_plan: MakePlan, provider: TestProvider) -> Subscribe:
    """Subscribe an account to Premium (€9.99 a month) in the store, paying with ``card``;
    the subscription's id."""
    make_plan("premium", term_days=30, devices_max=3, subscription_price_cents=999)

    def make(account_id: int, card: str) -> int:
        with open_unit() as unit:
            account = unit.session.get_one(Account, account_id)
            payment = unit.checkout.subscribe(
                "premium", name="Carla Verdi", account=account, language="en", actor="test"
            )
        with open_unit() as unit:
            order = unit.checkout.settle(paid_with(provider, payment, card), actor="test")
            subscription = unit.orders.subscription(order)
            assert subscription is not None
            return subscription.id

    return make


@pytest.fixture
def renew(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock, provider: TestProvider
) -> Renew:
    """One run of the worker's renewals, now."""
    return lambda: run_due(database, keyring, settings, clock.now(), provider_charge(provider))


def status_of(database: Database, subscription_id: int) -> SubscriptionStatus:
    with database.transaction() as session:
        return session.get_one(Subscription, subscription_id).status


def fill_card(page: Page, number: str) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry date").fill(card_expiry())
    page.get_by_label("Security code (CVC)").fill("123")


def test_the_page_shows_price_next_charge_card_and_invoice_and_renewal_resumes(
    page: Page, make_account: MakeAccount, subscribe: Subscribe, database: Database
) -> None:
    customer = make_account()
    subscription_id = subscribe(customer.id, PAYS)
    sign_in(page, customer.email, PASSWORD)
    page.get_by_role("navigation", name="My Account").get_by_role(
        "link", name="Subscriptions"
    ).click()

    card = page.locator(".subscription-card").filter(has_text="Premium")
    expect(card.locator(".badge")).to_have_text("Active")
    expect(card).to_contain_text("€9.99, renewed every month")
    expect(card).to_contain_text(re.compile(r"Next charge\s*\w{3} \d{1,2}, \d{4}: €9\.99"))
    expect(card).to_contain_text("Visa ending in 4242")
    expect(card).to_contain_text("Up to 3 devices")
    invoices = card.get_by_role("list", name="Invoices").get_by_role("listitem")
    expect(invoices).to_have_count(1)
    expect(invoices).to_contain_text("First payment")
    receipt = invoices.get_by_role("link")
    expect(receipt).to_have_attribute(
        "href", re.compile(r"^/account/orders/ORD-[0-9A-Z-]+/receipt\.pdf$")
    )
    opened = page.request.get(receipt.get_attribute("href") or "")
    assert opened.status == 200
    assert opened.headers["content-type"] == "application/pdf"

    card.get_by_role("button", name="Turn off renewal").click()
    expect(page).to_have_url(re.compile(r"/account/subscriptions\?done=canceled$"))
    expect(page.get_by_role("status")).to_contain_text("Renewal is off")
    expect(card.locator(".badge")).to_have_text("Canceled")
    expect(card).to_contain_text("Ends on")
    expect(card.get_by_role("button", name="Change the card")).to_have_count(0)

    card.get_by_role("button", name="Resume").click()
    expect(page).to_have_url(re.compile(r"/account/subscriptions\?done=resumed$"))
    expect(page.get_by_role("status")).to_contain_text("Renewal is on again")
    expect(card.locator(".badge")).to_have_text("Active")
    expect(card).to_contain_text("Next charge")
    page.reload()  # a GET: nothing happens twice
    assert status_of(database, subscription_id) == SubscriptionStatus.ACTIVE
    assert [event.action for event in audit_events(database, "store.subscription_resumed")] == [
        "store.subscription_resumed"
    ]


def test_a_failed_renewal_shows_a_banner_and_a_new_card_makes_the_subscription_active_again(
    page: Page,
    make_account: MakeAccount,
    subscribe: Subscribe,
    renew: Renew,
    clock: Clock,
    database: Database,
) -> None:
    customer = make_account()
    subscription_id = subscribe(customer.id, RENEWALS_DECLINED)
    clock.advance(timedelta(days=30, minutes=1))
    assert renew().past_due == 1

    # Every My Account page says so, and what fixes it.
    sign_in(page, customer.email, PASSWORD)
    page.goto("/account/devices")
    banner = page.locator(".past-due-banner")
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text("The renewal payment for your Premium subscription failed.")
    banner.get_by_role("link", name="Change the card").click()

    card = page.locator(".subscription-card").filter(has_text="Premium")
    expect(card.locator(".badge")).to_have_text("Payment failed")
    expect(card).to_contain_text("The renewal payment of €9.99 was declined.")
    expect(card).to_contain_text("Visa ending in 0341")
    card.get_by_role("button", name="Change the card").click()

    # The provider's page: a declined card is refused there, and nothing changes.
    expect(page.get_by_text("TEST MODE", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Save a new card", level=1)).to_be_visible()
    fill_card(page, DECLINED)
    page.get_by_role("button", name="Save the card").click()
    expect(page.get_by_label("Card number")).to_have_accessible_description(
        re.compile("This card was declined")
    )
    fill_card(page, PAYS)
    page.get_by_role("button", name="Save the card").click()

    expect(page).to_have_url(re.compile(r"/account/subscriptions\?done=card$"))
    expect(page.get_by_role("status")).to_contain_text("The new card is saved")
    expect(card).to_contain_text("Visa ending in 4242")
    [mail] = outbox(database, customer.email, "subscription_card_changed")
    assert "Premium" in mail.subject
    assert len(audit_events(database, "store.subscription_card_changed")) == 1

    # The worker's next run charges the new card: active again, the banner gone.
    assert renew().renewed == 1
    assert status_of(database, subscription_id) == SubscriptionStatus.ACTIVE
    page.reload()
    expect(card.locator(".badge")).to_have_text("Active")
    expect(page.locator(".past-due-banner")).to_have_count(0)
    invoices = card.get_by_role("list", name="Invoices").get_by_role("listitem")
    expect(invoices).to_have_count(2)
    expect(invoices.first).to_contain_text("Renewal")
    renewal_receipt = invoices.first.get_by_role("link").get_attribute("href") or ""
    assert page.request.get(renewal_receipt).status == 200


def test_the_subscription_page_and_its_banner_in_italian(
    italian_page: Page,
    make_account: MakeAccount,
    subscribe: Subscribe,
    renew: Renew,
    clock: Clock,
) -> None:
    customer = make_account(language="it")
    subscribe(customer.id, RENEWALS_DECLINED)
    clock.advance(timedelta(days=30, minutes=1))
    assert renew().past_due == 1
    page = italian_page
    sign_in_italian(page, customer.email, PASSWORD)

    page.goto("/account/subscriptions")
    expect(page.locator(".past-due-banner")).to_contain_text(
        "Il pagamento del rinnovo del tuo abbonamento Premium non è riuscito."
    )
    card = page.locator(".subscription-card").filter(has_text="Premium")
    expect(card.locator(".badge")).to_have_text("Pagamento non riuscito")
    expect(card).to_contain_text("Il pagamento del rinnovo di 9,99\xa0€ è stato rifiutato.")
    expect(card).to_contain_text("Visa che termina con 0341")
    expect(card).to_contain_text("Fino a 3 dispositivi")
    expect(card).to_contain_text("Primo pagamento")
    card.get_by_role("button", name="Cambia la carta").click()
    expect(page.get_by_role("heading", name="Salva una nuova carta", level=1)).to_be_visible()


def test_only_the_owner_changes_the_card_or_resumes_and_a_forged_reference_is_refused(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    subscribe: Subscribe,
    database: Database,
) -> None:
    owner, other = make_account(), make_account()
    subscription_id = subscribe(owner.id, PAYS)
    stranger = form_browser()
    stranger.sign_in(other)
    for action in ("card", "resume", "cancel"):
        answer = stranger.post(f"/account/subscriptions/{subscription_id}/{action}")
        assert answer.status_code == 404, action

    visitor = form_browser()
    visitor.sign_in(owner)
    started = visitor.post(f"/account/subscriptions/{subscription_id}/card")
    assert started.status_code == 303
    reference = started.headers["location"].rsplit("/", 1)[1]
    assert visitor.get(f"/store/pay/test/card/{reference}").status_code == 200
    # Another subscription's number, or a signature changed, is no reference of ours.
    body, signature = reference.rsplit("_", 1)
    forged = [
        body.replace(f"card_{subscription_id}_", f"card_{subscription_id + 1}_", 1)
        + f"_{signature}",
        f"{body}_{signature[::-1]}",
    ]
    for reference in forged:
        assert stranger.get(f"/store/pay/test/card/{reference}").status_code == 404
        answer = stranger.post(
            f"/store/pay/test/card/{reference}",
            {"number": PAYS, "expiry": card_expiry(), "cvc": "123"},
        )
        assert answer.status_code == 404
    assert audit_events(database, "store.subscription_card_changed") == []


def test_the_past_due_subscription_page_and_the_card_page_pass_axe(
    browser: PlaywrightBrowser,
    server: str,
    make_account: MakeAccount,
    subscribe: Subscribe,
    renew: Renew,
    clock: Clock,
) -> None:
    """The states the site-wide crawl (tests/web/test_accessibility.py) does not reach:
    the past-due banner and alert, the test provider's card page and its refusal."""
    customer = make_account()
    subscribe(customer.id, RENEWALS_DECLINED)
    clock.advance(timedelta(days=30, minutes=1))
    assert renew().past_due == 1
    context = browser.new_context(base_url=server, locale="en-GB", bypass_csp=True)
    try:
        page = context.new_page()
        audit = Audit(page, server, axe_script())
        sign_in(page, customer.email, PASSWORD)
        audit.visit("/account/devices")
        audit.visit("/account/subscriptions")
        page.get_by_role("button", name="Change the card").click()
        audit.check("the test provider's card page")
        fill_card(page, DECLINED)
        page.get_by_role("button", name="Save the card").click()
        expect(page.get_by_role("alert")).to_be_visible()
        audit.check("the test provider's card page, a declined card")
    finally:
        context.close()
    assert len(audit.checked) == 4
    assert not audit.violations, audit.report()
