"""Every page of the site passes axe-core's WCAG 2.1 A and AA rules at 390 px and at
1280 px: signed out, as a customer with something on every page of My Account, and as
staff with a queue at the desk.

The pages are found by following links from the home page and from each visitor's home,
so a page added later is checked without a line here; what no link reaches (a form's
error state, checkout's next step, a page behind a token) is visited by the steps below.
Nothing here depends on the database, so it runs on the SQLite run only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, Page

from licensor.clock import Clock
from licensor.keys import Keyring
from licensor.store.reminders import unsubscribe_path, unsubscribe_token
from licensor.support.proofs import store_proof
from tests.accounts.factories import (
    PASSWORD,
    TOTP_SECRET,
    Customer,
    InviteToShare,
    LinkCode,
    MakeAccount,
    ShareLicense,
    fresh_email,
    link,
    two_factor_code,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, MakeFloating, MakePlan, activate, device
from tests.store.factories import (
    DECLINED,
    PAYS,
    MakeOrder,
    MakePartner,
    MakeSubscription,
    card_expiry,
)
from tests.support.factories import (
    MakeRequest,
    Reading,
    device_key_text,
    png_bytes,
    signed_proof,
)
from tests.web.accessibility import Audit, axe_script, fetch_axe_module, visitor

pytestmark = pytest.mark.slow

# Help articles are the same page to everyone but for the header, which every other page
# shows too: the signed-out crawl checks them, the signed-in ones go past.
ARTICLES = re.compile(r"^/help/.")
ARTICLES_AND_CONSOLE = re.compile(r"^/help/.|^/console(/|$)")


@pytest.fixture(autouse=True)
def _sqlite_run_only() -> None:
    if os.environ.get("LICENSOR_TEST_DATABASE_URL"):
        pytest.skip("the pages are the same on every database: checked on the SQLite run")


@pytest.fixture
def audit(browser: Browser, server: str) -> Iterator[Audit]:
    """One visitor's browser context (cookies of its own) and what its crawl finds."""
    with visitor(browser, server, axe_script()) as audit:
        yield audit


@pytest.fixture
def store(make_plan: MakePlan, make_partner: MakePartner) -> None:
    """A store with a code to buy, a subscription to take, and a partner to name."""
    make_plan("standard", price_cents=3999, subscription_price_cents=2999)
    make_plan("premium", term_days=30, subscription_price_cents=999)
    make_partner(name="Shop Milano", phone="+39 02 1234 5678")


def passes(audit: Audit) -> None:
    assert audit.checked, "no page was checked"
    found = audit.violations + audit.broken
    assert not found, audit.report()


def test_the_audit_reports_what_axe_finds_at_each_width(audit: Audit) -> None:
    audit.page.set_content('<html><body><main><img src="/logo.png"></main></body></html>')
    audit.check("a page made to fail")
    found = {(violation.rule, violation.width) for violation in audit.violations}
    assert {("image-alt", 390), ("image-alt", 1280), ("html-has-lang", 390)} <= found
    assert "a page made to fail at 390 px: image-alt" in audit.report()


def test_axe_is_used_only_as_npm_published_it() -> None:
    fetch_axe = fetch_axe_module()
    with pytest.raises(ValueError, match="not the pinned"):
        fetch_axe.verify(b"a tarball someone swapped on the way")
    assert axe_script().read_bytes().startswith(b"/*! axe v" + fetch_axe.VERSION.encode())


def test_every_page_a_signed_out_visitor_reaches_passes_axe(
    audit: Audit,
    store: None,
    make_request: MakeRequest,
    make_code: MakeCode,
    api: httpx.Client,
    keyring: Keyring,
    make_account: MakeAccount,
    linked_code: LinkCode,
    invite_to_share: InviteToShare,
) -> None:
    request = make_request(screenshot=png_bytes())
    activated = activate(api, make_code(), device())
    unsubscribe = unsubscribe_path(unsubscribe_token(keyring, activated["public_id"]))
    owner = make_account(fresh_email("owner"))
    invitation = invite_to_share(owner, linked_code(owner).public_id, fresh_email("family"))
    audit.crawl(["/"])
    # Pages behind a link from a mail, and what an expired or mistyped link leads to.
    for path in [
        request.follow_path,
        unsubscribe,
        "/help/no-such-article",
        "/verify-email?token=expired",
        "/reset-password/choose?token=expired",
        "/account/email/confirm?token=expired",
        "/seat-release/expired",
        "/seat-release/done",
        "/reminders/unsubscribe/expired",
        "/share/expired",
        invitation,
    ]:
        audit.visit(path)
    # Each form's error state, as the server renders it when a field is missing.
    for path, form in [
        ("/sign-in", 'form[action="/sign-in"]'),
        ("/sign-up", 'form[action="/sign-up"]'),
        ("/reset-password", 'form[action="/reset-password"]'),
        ("/orders/lookup", 'form[action="/orders/lookup"]'),
        ("/support", 'form[action="/support"]'),
        ("/store/standard", 'form[action="/store/standard"]'),
        (request.follow_path, "main form"),
        (unsubscribe, "main form"),
    ]:
        audit.submit(path, form)
    # Checkout: the payment page, its error state, a declined card's order page, then a
    # paid order's thanks page.
    buyer = {"quantity": "1", "name": "Mario Rossi", "email": fresh_email("buyer")}
    card_form = 'form[action^="/store/pay/test/"]'
    audit.submit("/store/standard", 'form[action="/store/standard"]', buyer)
    audit.submit_here(card_form)
    audit.submit_here(card_form, {"number": DECLINED, "expiry": card_expiry(), "cvc": "123"})
    audit.submit("/store/standard", 'form[action="/store/standard"]', buyer)
    audit.submit_here(card_form, {"number": PAYS, "expiry": card_expiry(), "cvc": "123"})
    audit.crawl([audit.page.url])
    passes(audit)


@pytest.fixture
def customer(
    make_account: MakeAccount,
    make_code: MakeCode,
    linked_code: LinkCode,
    make_order: MakeOrder,
    make_request: MakeRequest,
    make_subscription: MakeSubscription,
    share_license: ShareLicense,
    api: httpx.Client,
    store: None,
) -> Customer:
    """A customer with licenses on several devices (two of the same name), one shared
    with family and one shared with them, orders, a subscription and a support request:
    every page of My Account has rows."""
    customer = make_account(fresh_email("a11y"))
    first = linked_code(customer)
    activate(api, first.code, device("Laptop"))
    # A reserve code on the first license: its page shows it, and links to the withdrawal.
    reserved = api.post(
        "/api/v1/licenses/reserve",
        json={
            "license_key": first.license_key,
            "fingerprint": first.fingerprint,
            "activation_code": make_code("plus"),
        },
    )
    assert reserved.status_code == 201, reserved.text
    linked_code(customer)
    share_license(customer, first.public_id, make_account(fresh_email("family")))
    relative = make_account(fresh_email("relative"))
    share_license(relative, linked_code(relative).public_id, customer)
    make_order("plus", email=customer.email, account_id=customer.id)
    make_request(email=customer.email, account_id=customer.id, screenshot=png_bytes())
    make_subscription(customer.id, "family")
    return customer


@pytest.fixture
def floating_license(customer: Customer, api: httpx.Client, floating_code: MakeFloating) -> str:
    """A floating license of the customer's, its lease held by one machine: its page lists
    who holds each lease with the form that frees one. Its public ID."""
    machine = device("Render node")
    activated = activate(api, floating_code("studio"), machine)
    linked = link(api, customer, activated["license_key"], machine["fingerprint"])
    assert linked.status_code == 200, linked.text
    return str(activated["public_id"])


def sign_in_through_the_form(page: Page, email: str, password: str) -> None:
    page.goto("/sign-in")
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password"]').fill(password)
    with page.expect_navigation():
        page.locator('form[action="/sign-in"] button[type="submit"]').click()


def test_every_page_a_customer_reaches_passes_axe(
    audit: Audit, customer: Customer, floating_license: str
) -> None:
    sign_in_through_the_form(audit.page, customer.email, customer.password)
    audit.crawl(["/account/licenses", "/"], skip=ARTICLES)
    for path, form in [
        ("/account/licenses", 'form[action="/account/licenses"]'),
        ("/account/connect", 'form[action="/account/connect"]'),
        ("/account/settings", 'form[action="/account/settings/password"]'),
        ("/account/settings", 'form[action="/account/settings/email"]'),
        ("/account/settings", 'form[action="/account/settings/two-factor"]'),
        ("/store/standard", 'form[action="/store/standard/subscribe"]'),
    ]:
        audit.submit(path, form)
    assert any(path.endswith("/reserve/withdraw") for path in audit.checked), audit.checked
    assert any(path.endswith(floating_license) for path in audit.checked), audit.checked
    passes(audit)


def test_every_page_a_customer_reaches_in_italian_passes_axe(
    browser: Browser, server: str, customer: Customer
) -> None:
    """Italian words are longer and the page says lang="it": the same pages again, so a
    label that wraps out of sight or a language attribute that lies is found too."""
    with visitor(browser, server, axe_script(), locale="it-IT") as audit:
        audit.page.goto("/?lang=it")
        audit.crawl(["/"], skip=ARTICLES)
        # Signing in brings back the account's own language (English): choose Italian again.
        sign_in_through_the_form(audit.page, customer.email, customer.password)
        audit.page.goto("/account/licenses?lang=it")
        assert audit.page.locator("html").get_attribute("lang") == "it"
        audit.crawl(["/account/licenses"], skip=ARTICLES)
        assert "/account/orders" in audit.checked, audit.checked  # My Account was crawled
        passes(audit)


@contextmanager
def another_context(audit: Audit) -> Iterator[Audit]:
    """A second visitor in the same browser, whose pages count in the same audit."""
    browser = audit.page.context.browser
    assert browser is not None
    with visitor(browser, audit.origin, audit.script) as other:
        try:
            yield other
        finally:
            audit.checked += other.checked
            audit.violations += other.violations
            audit.broken += other.broken


def test_every_page_staff_reach_passes_axe(
    audit: Audit,
    make_account: MakeAccount,
    make_code: MakeCode,
    make_order: MakeOrder,
    make_request: MakeRequest,
    api: httpx.Client,
    clock: Clock,
    store: None,
    open_unit: OpenUnit,
) -> None:
    code = make_code()
    device_key = Ed25519PrivateKey.generate()
    office = {**device("Office PC"), "key": device_key_text(device_key)}
    activated = activate(api, code, office)
    order = make_order("plus")
    reading = Reading(f"License key {activated['license_key']}", activated["license_key"], True)
    request = make_request(screenshot=png_bytes(), reading=reading)
    # License proofs on the request: one the device signed (verified), one that is not.
    held = {name: activated[name] for name in ("license_key", "public_id")}
    proof = signed_proof(
        device_key,
        {**held, "fingerprint": office["fingerprint"], "issued_at": "2026-12-01T12:00:00Z"},
    )
    with open_unit() as unit:
        for text in (proof, "LP1.not.a-proof"):
            store_proof(
                unit.session,
                unit.keyring,
                unit.licenses,
                unit.now,
                request_id=request.id,
                text=text,
            )
    make_request(topic="missing_purchase", order_number=order.number, status="open")
    staff = make_account(fresh_email("staff"), roles=("agent", "admin"), totp_secret=TOTP_SECRET)

    # A new agent is asked to set up two-factor first: that page, in a context of its own.
    with another_context(audit) as newcomer:
        agent = make_account(fresh_email("agent"), roles=("agent",))
        sign_in_through_the_form(newcomer.page, agent.email, PASSWORD)
        newcomer.check(newcomer.page.url.removeprefix(audit.origin))

    sign_in_through_the_form(audit.page, staff.email, staff.password)
    audit.check("/sign-in/two-factor")
    audit.submit_here('form[action="/sign-in/two-factor"]')  # no code: its error state
    clock.advance(timedelta(seconds=60))
    audit.page.locator('input[name="code"]').fill(two_factor_code(TOTP_SECRET, clock))
    with audit.page.expect_navigation():
        audit.page.locator('form[action="/sign-in/two-factor"] button').click()

    # The console has a crawl of its own, with a row in each section
    # (tests/web/test_console_accessibility.py).
    audit.crawl(["/desk", f"/desk/requests/{request.number}", "/"], skip=ARTICLES_AND_CONSOLE)
    for query in [activated["license_key"], order.number, code, "not a thing"]:
        audit.visit(f"/desk/lookup?{httpx.QueryParams(q=query, request=request.number)}")
    audit.visit("/console?from=not+a+day")  # the dashboard's range, refused beside its field
    for form in ["reply", "note", "key"]:
        audit.submit(f"/desk/requests/{request.number}", f'form[action$="/{form}"]')
    passes(audit)
