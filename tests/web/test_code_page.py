"""A code in the account that has not activated yet has a page of its own, and its owner
replaces it there when it leaked before it was used (issue 14, item 4, follow-up): the old
code is blocked and can never activate, a new code of the same plan, origin and order
takes its place. In a real Chromium, at a phone's width, in English and Italian."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import ActivationCode, CodeOrigin, Order
from tests.accounts.factories import PASSWORD, MakeAccount, outbox
from tests.conftest import OpenUnit
from tests.licensing.factories import activate, activation, device
from tests.store.factories import MakeOrder
from tests.support import audit_events
from tests.web.accessibility import axe_script, visitor
from tests.web.conftest import sign_in, sign_in_italian

PHONE: ViewportSize = {"width": 390, "height": 844}
CODE = re.compile(r"[0-9A-Z]{5}(?:-[0-9A-Z]{5}){3}")
CODE_PAGE = re.compile(r"/account/licenses/codes/([A-Za-z0-9_-]+)$")


def code_row(open_unit: OpenUnit, code: str) -> ActivationCode:
    with open_unit() as unit:
        row = unit.codes.find_code(code)
        unit.session.expunge(row)
        return row


def test_an_unused_code_has_a_page_and_its_owner_replaces_it(
    page: Page,
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    open_unit: OpenUnit,
    make_account: MakeAccount,
    make_order: MakeOrder,
) -> None:
    customer = make_account()
    order = make_order("plus", account_id=customer.id)
    [old_code] = order.codes
    page.set_viewport_size(PHONE)
    sign_in(page, customer.email, PASSWORD)

    # The Licenses card links the code to its page, whose address does not carry it.
    page.goto("/account/licenses")
    page.get_by_role("link", name=re.compile(r"^Plus")).click()
    expect(page).to_have_url(CODE_PAGE)
    assert old_code.replace("-", "") not in page.url.replace("-", "")
    expect(page.get_by_role("heading", name="Plus activation code")).to_be_visible()
    expect(page.locator("#activation-code")).to_have_text(old_code)
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("365 days")
    expect(facts).to_contain_text("Starts at first activation")
    expect(facts).to_contain_text("Up to 3 devices")
    expect(facts).to_contain_text(order.number)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    old_page = page.url

    page.get_by_role("link", name="Replace this code").click()
    expect(page.get_by_role("heading", name="Replace this Plus activation code?")).to_be_visible()
    expect(page.get_by_text(f"The code {old_code} stops working at once")).to_be_visible()
    password = page.get_by_label("Password")
    password.fill("not my password")
    page.get_by_role("button", name="Replace this code").click()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description("This password is not correct.")
    assert audit_events(database, "accounts.code_replaced") == []

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Replace this code").click()
    expect(page).to_have_url(re.compile(r"/account/licenses/codes/[A-Za-z0-9_-]+\?done=replaced$"))
    expect(page.get_by_role("status").first).to_contain_text("The old code no longer works.")
    new_code = page.locator("#activation-code").inner_text().strip()
    assert CODE.fullmatch(new_code)
    assert new_code != old_code

    # The old code can never activate; the new one is of the same plan, origin and order.
    refused = api.post("/api/v1/activations", json=activation(old_code, device("Thief")))
    assert refused.status_code == 403
    assert refused.json()["code"] == "code_blocked"
    replacement = code_row(open_unit, new_code)
    with database.transaction() as session:
        order_id = session.scalars(select(Order.id).where(Order.number == order.number)).one()
    assert replacement.order_id == order_id
    assert replacement.origin == CodeOrigin.STORE_ORDER
    assert replacement.account_id == customer.id
    assert code_row(open_unit, old_code).account_id == customer.id  # kept, blocked, listed

    [mail] = outbox(database, customer.email, "code_replaced")
    text, _ = bodies(keyring, mail)
    assert f"ending in {old_code[-5:]}" in text
    assert "not activated yet" in text
    assert new_code not in text
    assert old_code not in text
    [event] = audit_events(database, "accounts.code_replaced")
    assert event.actor == f"account:{customer.id}"
    assert event.details["replacement_id"] == replacement.id

    # The old code's page says it is blocked and offers nothing more.
    page.goto(old_page)
    expect(page.get_by_role("heading", name=re.compile("Plus activation code"))).to_contain_text(
        "Blocked"
    )
    expect(page.get_by_role("link", name="Replace this code")).to_have_count(0)

    # Once the new code activates, its page is its license's.
    activated = activate(api, new_code, device("Laptop"))
    page.goto("/account/licenses")
    page.get_by_role("link", name=re.compile(activated["public_id"])).click()
    expect(page).to_have_url(re.compile(f"/account/licenses/{activated['public_id']}$"))


def test_an_unused_codes_page_is_its_owners_alone(
    page: Page,
    make_account: MakeAccount,
    make_order: MakeOrder,
) -> None:
    owner, stranger = make_account(), make_account()
    [code] = make_order("plus", account_id=owner.id).codes
    sign_in(page, owner.email, PASSWORD)
    page.goto("/account/licenses")
    page.get_by_role("link", name=re.compile(r"^Plus")).click()
    expect(page).to_have_url(CODE_PAGE)
    path = page.url.partition("://")[2].partition("/")[2]
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, stranger.email, PASSWORD)
    for address in (f"/{path}", f"/{path}/replace", "/account/licenses/codes/nothing-here"):
        answer = page.goto(address)
        assert answer is not None
        assert answer.status == 404, address
        assert code not in page.content()
    refused = page.request.post(f"/{path}/replace", form={"password": PASSWORD})
    assert refused.status in (403, 404)  # no CSRF token; and the code is not theirs


def test_the_unused_codes_page_and_its_replacement_in_italian(
    italian_page: Page,
    database: Database,
    keyring: Keyring,
    make_account: MakeAccount,
    make_order: MakeOrder,
) -> None:
    page = italian_page
    customer = make_account(language="it")
    [code] = make_order("plus", account_id=customer.id, language="it").codes
    sign_in_italian(page, customer.email, PASSWORD)
    page.goto("/account/licenses")
    page.get_by_role("link", name=re.compile(r"^Plus")).click()
    expect(page.get_by_role("heading", name="Codice di attivazione Plus")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("Decorre dalla prima attivazione")
    expect(page.locator("dl.facts")).to_contain_text("Fino a 3 dispositivi")

    page.get_by_role("link", name="Sostituisci questo codice").click()
    expect(
        page.get_by_role("heading", name="Vuoi sostituire questo codice di attivazione Plus?")
    ).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sostituisci questo codice").click()
    expect(page.get_by_role("status").first).to_contain_text("Il vecchio codice non funziona più.")
    assert page.locator("#activation-code").inner_text().strip() != code

    [mail] = outbox(database, customer.email, "code_replaced")
    assert mail.subject == "Il tuo codice di attivazione Plus è stato sostituito"
    text, _ = bodies(keyring, mail)
    assert "non ancora attivato" in text


def test_the_code_pages_pass_axe_at_a_phones_and_a_laptops_width(
    browser: Browser, server: str, make_account: MakeAccount, make_order: MakeOrder
) -> None:
    # The signed-in crawl reaches a code's page only when its customer holds an unused
    # code; these states (the wrong password, the notice after replacing) no link reaches.
    customer = make_account()
    make_order("plus", account_id=customer.id)
    with visitor(browser, server, axe_script()) as audit:
        page = audit.page
        sign_in(page, customer.email, PASSWORD)
        page.goto("/account/licenses")
        page.get_by_role("link", name=re.compile(r"^Plus")).click()
        audit.check("code page")
        page.get_by_role("link", name="Replace this code").click()
        audit.check("replace form")
        page.get_by_label("Password").fill("not my password")
        page.get_by_role("button", name="Replace this code").click()
        expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
        audit.check("replace form, wrong password")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Replace this code").click()
        expect(page.get_by_role("status").first).to_contain_text("The old code no longer works.")
        audit.check("code page, replaced")
        assert [str(violation) for violation in audit.violations] == []
