"""Licenses as cards, a page per license, and "Replace this code" (issue 14, items 3 and 4),
as a customer sees them in a real Chromium: on a 390 px phone, in English and Italian,
with and without JavaScript. Devices are played by the API, as the app would call it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect
from sqlalchemy import select

from licensor.db import Database
from licensor.models import CodeOrigin, Device
from tests.accounts.factories import PASSWORD, Customer, MakeAccount, link
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, MakePlan, activate, activation, device, validate
from tests.mail_support import SmtpServer, text_of
from tests.support import audit_events
from tests.web.conftest import sign_in, sign_in_italian

PHONE: ViewportSize = {"width": 390, "height": 844}
CODE = re.compile(r"[0-9A-Z]{5}(?:-[0-9A-Z]{5}){3}")


@dataclass(frozen=True)
class Owned:
    customer: Customer
    code: str
    license_key: str
    public_id: str
    laptop: dict[str, str]


def own_license(
    api: httpx.Client, customer: Customer, make_plan: MakePlan, open_unit: OpenUnit
) -> Owned:
    """The customer's Home license (sold in the store), on a laptop the owner renamed
    "Kitchen PC", released from an old PC in its app, joined to the account from the app."""
    make_plan("home", devices_max=3, price_cents=2990)
    with open_unit() as unit:
        _, canonical = unit.codes.create_code(unit.plans.by_code("home"), CodeOrigin.MANUAL)
    code = "-".join(canonical[i : i + 5] for i in range(0, 20, 5))
    laptop, old_pc = device("Laptop"), device("Old PC")
    activated = activate(api, code, laptop)
    activate(api, code, old_pc)
    released = api.post(
        "/api/v1/activations/release",
        json={"license_key": activated["license_key"], "fingerprint": old_pc["fingerprint"]},
    )
    assert released.status_code == 200, released.text
    linked = link(api, customer, activated["license_key"], laptop["fingerprint"])
    assert linked.status_code == 200, linked.text
    with open_unit() as unit:
        found = unit.session.scalars(
            select(Device).where(Device.fingerprint == laptop["fingerprint"])
        ).one()
        found.display_name = "Kitchen PC"
    return Owned(customer, code, activated["license_key"], activated["public_id"], laptop)


@pytest.fixture
def owned(
    api: httpx.Client, make_account: MakeAccount, make_plan: MakePlan, open_unit: OpenUnit
) -> Owned:
    return own_license(api, make_account(), make_plan, open_unit)


@pytest.fixture
def owned_in_italian(
    api: httpx.Client, make_account: MakeAccount, make_plan: MakePlan, open_unit: OpenUnit
) -> Owned:
    """The same, of a customer whose account speaks Italian."""
    return own_license(api, make_account(language="it"), make_plan, open_unit)


@pytest.fixture
def no_script(browser: Browser, server: str) -> Iterator[Page]:
    """A tab of a browser with JavaScript turned off."""
    context = browser.new_context(base_url=server, locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def clipboard_context(browser: Browser, server: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=server, locale="en-GB")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    yield context
    context.close()


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide"


# --- Licenses as cards ------------------------------------------------------------------------


def test_licenses_are_cards_that_fit_a_phone_and_lead_to_each_license(
    page: Page,
    api: httpx.Client,
    owned: Owned,
    make_code: MakeCode,
    open_unit: OpenUnit,
) -> None:
    unused = make_code("plus", devices_max=3)
    with open_unit() as unit:
        account = unit.accounts.by_email(owned.customer.email)
        assert account is not None
        unit.account_licenses.link_code(account, unused)

    page.set_viewport_size(PHONE)
    sign_in(page, owned.customer.email, PASSWORD)
    expect(page.get_by_role("heading", name="Licenses", level=2)).to_be_visible()
    cards = page.locator(".license-card")
    expect(cards).to_have_count(2)
    no_horizontal_scroll(page)

    active = cards.filter(has_text=owned.code)
    expect(active.locator("code.activation-code")).to_have_text(owned.code)
    expect(active.locator(".badge")).to_have_text("Active")
    expect(active).to_contain_text("1 of 3")
    for text in ("Expires", "Devices", owned.code):  # nothing cut off at the right edge
        box = active.get_by_text(text, exact=True).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= PHONE["width"]
    waiting = cards.filter(has_text=unused)
    expect(waiting.locator(".badge")).to_have_text("Not activated yet")
    expect(waiting).to_contain_text("Starts at first activation")
    # No license yet: the code's own page, by an address that does not carry the code.
    expect(waiting.get_by_role("link")).to_have_attribute(
        "href", re.compile(r"^/account/licenses/codes/[A-Za-z0-9_-]+$")
    )
    href = waiting.get_by_role("link").get_attribute("href") or ""
    assert unused.replace("-", "") not in href.replace("-", "")

    active.get_by_role("link", name=f"Home {owned.public_id}").click()
    expect(page).to_have_url(re.compile(f"/account/licenses/{owned.public_id}$"))
    expect(page.get_by_role("heading", name="Home license")).to_be_visible()
    no_horizontal_scroll(page)


# --- a page per license -------------------------------------------------------------------------


def test_the_license_page_shows_code_key_term_devices_and_history(page: Page, owned: Owned) -> None:
    sign_in(page, owned.customer.email, PASSWORD)
    page.goto(f"/account/licenses/{owned.public_id}")

    expect(page.locator("#activation-code")).to_have_text(owned.code)
    sections = page.get_by_role("navigation", name="My Account")
    expect(sections.get_by_role("link", name="Licenses")).to_have_attribute("aria-current", "true")
    facts = page.locator("dl.facts").first
    expect(facts).to_contain_text(owned.public_id)
    shown_key = facts.locator("code.license-key").inner_text()
    assert shown_key.replace(" ", "") == owned.license_key.replace(" ", "").replace("-", "")
    expect(facts).to_contain_text("Home")
    expect(facts).to_contain_text("365 days")
    expect(facts).to_contain_text("1 of 3")
    expect(page.get_by_role("link", name="Renew: buy Home again")).to_have_attribute(
        "href", "/store/home"
    )
    expect(page.get_by_role("link", name="Upgrade: see every plan in the store")).to_be_visible()

    seat = page.locator("ul.seats > li")
    expect(seat).to_have_count(1)  # the old PC was released
    expect(seat.get_by_role("heading", level=4)).to_have_text("Kitchen PC")
    for label in ("Platform", "First activated", "Last seen"):
        expect(seat.get_by_text(label, exact=True)).to_be_visible()
    expect(seat).to_contain_text("linux")

    history = page.locator("ol.history > li")
    expect(history.filter(has_text="Added to your account from the app.")).to_have_count(1)
    expect(history.filter(has_text="Released from Old PC, in the app.")).to_have_count(1)
    expect(history.filter(has_text="Activated on Old PC.")).to_have_count(1)
    expect(history.filter(has_text="Activated on Kitchen PC.")).to_have_count(1)
    for entry in history.all():
        expect(entry.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))


def test_the_license_page_in_italian(italian_page: Page, owned_in_italian: Owned) -> None:
    page, owned = italian_page, owned_in_italian
    sign_in_italian(page, owned.customer.email, PASSWORD)
    page.goto(f"/account/licenses/{owned.public_id}")
    expect(page.get_by_role("heading", name="Licenza Home")).to_be_visible()
    expect(page.get_by_role("heading", name="Codice di attivazione")).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text("365 giorni")
    expect(page.get_by_role("link", name="Rinnova: acquista di nuovo Home")).to_be_visible()
    expect(page.get_by_text("Aggiunta al tuo account dall'app.")).to_be_visible()
    expect(page.get_by_text("Rimossa da Old PC, nell'app.")).to_be_visible()

    page.get_by_role("link", name="Sostituisci questo codice").click()
    expect(
        page.get_by_role(
            "heading", name=f"Sostituire il codice di attivazione della licenza {owned.public_id}?"
        )
    ).to_be_visible()
    page.get_by_label("Password").fill("sbagliata")
    page.get_by_role("button", name="Sostituisci questo codice").click()
    expect(page.get_by_label("Password")).to_have_accessible_description(
        "La password non è corretta."
    )


def test_another_accounts_license_is_not_found(
    page: Page, owned: Owned, make_account: MakeAccount
) -> None:
    stranger = make_account()
    sign_in(page, stranger.email, PASSWORD)
    for path in ("", "/replace"):
        answer = page.goto(f"/account/licenses/{owned.public_id}{path}")
        assert answer is not None
        assert answer.status == 404
        assert owned.code not in page.content()


# --- copying the code ---------------------------------------------------------------------------


def test_the_code_is_one_click_from_selected_without_javascript(
    no_script: Page, owned: Owned
) -> None:
    page = no_script
    sign_in(page, owned.customer.email, PASSWORD)
    page.goto(f"/account/licenses/{owned.public_id}")
    code = page.locator("#activation-code")
    expect(code).to_have_text(owned.code)
    expect(code).to_have_css("user-select", "all")
    expect(page.get_by_role("button", name="Copy")).to_be_hidden()  # it needs the script
    code.click()
    # The browser's own selection, read through the debugging protocol (scripts are off).
    session = page.context.new_cdp_session(page)
    selected = session.send("Runtime.evaluate", {"expression": "window.getSelection().toString()"})
    assert selected["result"]["value"].strip() == owned.code


def test_the_copy_button_copies_the_code_and_says_so(
    clipboard_context: BrowserContext, owned: Owned
) -> None:
    page = clipboard_context.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, owned.customer.email, PASSWORD)
    page.goto(f"/account/licenses/{owned.public_id}")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator(".copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == owned.code


# --- replacing the code -------------------------------------------------------------------------


def test_replacing_the_code_end_to_end(
    page: Page,
    api: httpx.Client,
    owned: Owned,
    mail_worker: SmtpServer,
    database: Database,
) -> None:
    sign_in(page, owned.customer.email, PASSWORD)
    page.goto(f"/account/licenses/{owned.public_id}")
    page.get_by_role("link", name="Replace this code").click()
    expect(
        page.get_by_role(
            "heading", name=f"Replace the activation code of license {owned.public_id}?"
        )
    ).to_be_visible()
    expect(page.get_by_text(f"The code {owned.code} stops working at once")).to_be_visible()

    password = page.get_by_label("Password")
    password.fill("not my password")
    page.get_by_role("button", name="Replace this code").click()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description("This password is not correct.")
    assert activate(api, owned.code, owned.laptop)["public_id"] == owned.public_id  # unchanged

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Replace this code").click()
    expect(page).to_have_url(re.compile(f"/account/licenses/{owned.public_id}\\?done=replaced$"))
    expect(page.get_by_role("status").first).to_contain_text("The old code no longer works.")
    new_code = page.locator("#activation-code").inner_text().strip()
    assert CODE.fullmatch(new_code)
    assert new_code != owned.code
    expect(page.locator("ol.history")).to_contain_text(
        "The activation code was replaced in My Account; the old one was blocked."
    )

    refused = api.post("/api/v1/activations", json=activation(owned.code, device("Thief")))
    assert refused.status_code == 403
    assert refused.json()["code"] == "code_blocked"
    assert validate(api, owned.license_key, owned.laptop["fingerprint"])["valid"] is True
    moved = activate(api, new_code, device("New laptop"))
    assert moved["license_key"] == owned.license_key
    assert moved["devices_used"] == 2

    mail = text_of(mail_worker.inbox.to(owned.customer.email, "was replaced"))
    assert f"ending in {owned.code[-5:]}" in mail
    assert f"/account/licenses/{owned.public_id}" in mail
    assert new_code not in mail
    [event] = audit_events(database, "accounts.code_replaced")
    assert event.actor == f"account:{owned.customer.id}"
    assert event.details["public_id"] == owned.public_id


def test_the_owner_shares_the_license_with_family_from_its_page(
    page: Page, owned: Owned, database: Database
) -> None:
    sign_in(page, owned.customer.email, PASSWORD)
    page.goto(f"/account/licenses/{owned.public_id}")
    page.get_by_role("link", name="Share with family").click()
    expect(page.get_by_role("heading", name=re.compile("^Share with family"))).to_be_visible()
    page.get_by_label("Their email address").fill("not an address")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#email-error")).to_be_visible()
    page.get_by_label("Their email address").fill("Sister@Example.com")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_contain_text("The invitation was sent.")
    row = page.get_by_role("row", name=re.compile("sister@example.com"))
    expect(row).to_contain_text("Invited, waiting")
    row.get_by_role("link", name="Stop sharing with sister@example.com").click()
    page.get_by_role("button", name="Stop sharing").click()
    expect(page.get_by_role("status")).to_contain_text("Sharing stopped")
    expect(page.get_by_text("This license is not shared with anyone.")).to_be_visible()
    assert [event.action for event in audit_events(database)][-2:] == [
        "license.shared",
        "license.share_revoked",
    ]
