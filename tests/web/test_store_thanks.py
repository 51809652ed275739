"""The thanks page after a code purchase (issue 14, item 8), in Chromium: the browser that
paid sees its codes once, with a warning to keep them; reloaded, or opened by any other
browser with the same address, the page shows no code. A signed-in customer's checkout
asks neither the email (the account's) nor, once known, the name. English and Italian."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from licensor.db import Database
from licensor.models import Order
from tests.accounts.factories import PASSWORD, MakeAccount, fresh_email
from tests.licensing.factories import MakePlan
from tests.store.factories import PAYS, MakeOrder, card_expiry
from tests.support import audit_events
from tests.web.conftest import sign_in, sign_in_italian

CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")


def pay(page: Page, *, card_label: str, expiry_label: str, cvc_label: str, button: str) -> None:
    page.get_by_label(card_label).fill(PAYS)
    page.get_by_label(expiry_label).fill(card_expiry())
    page.get_by_label(cvc_label).fill("123")
    page.get_by_role("button", name=button).click()


def test_the_browser_that_paid_sees_its_codes_once_and_no_other_browser_does(
    page: Page, browser: Browser, server: str, make_plan: MakePlan, database: Database
) -> None:
    make_plan("plus", price_cents=3999)
    email = fresh_email("buyer")
    page.goto("/store/plus")
    page.get_by_label("Number of activation codes").fill("2")
    page.get_by_label("Your name").fill("Mario Rossi")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Continue to payment").click()
    token_cookie = next(c for c in page.context.cookies() if c["name"] == "licensor_thanks")
    assert token_cookie["httpOnly"]
    pay(
        page,
        card_label="Card number",
        expiry_label="Expiry date",
        cvc_label="Security code (CVC)",
        button="Pay €79.98",
    )

    expect(page.get_by_role("heading", name="Your activation codes", level=2)).to_be_visible()
    expect(page.locator(".codes-once")).to_contain_text("Shown only once.")
    expect(page.locator(".codes-once")).to_contain_text(f"They were also sent to {email}")
    codes = CODE.findall(page.locator(".codes-once ul.codes").inner_text())
    assert len(codes) == 2
    thanks_url = page.url

    # Reloaded: the codes are not shown again; the page says where they are.
    page.reload()
    expect(page.locator(".codes-once")).to_have_count(0)
    expect(page.locator(".codes-shown")).to_contain_text(
        "The codes were shown on this page once, on"
    )
    expect(page.locator(".codes-shown")).to_contain_text(f"sent to {email}")
    expect(page.get_by_role("link", name="Find your order")).to_be_visible()
    assert not CODE.findall(page.content())

    # Another browser with the address never sees them.
    other = browser.new_context(base_url=server, locale="en-GB")
    try:
        stranger = other.new_page()
        stranger.goto(thanks_url)
        expect(stranger.get_by_role("heading", name="Thank you for your purchase")).to_be_visible()
        assert not CODE.findall(stranger.content())
    finally:
        other.close()

    [shown] = audit_events(database, "store.codes_shown")
    assert shown.subject_type == "order"
    with database.transaction() as session:
        order = session.scalars(select(Order).where(Order.customer_email == email)).one()
        assert order.codes_shown_at is not None
        assert order.thanks_token_hash is None  # spent


def test_an_italian_buyer_sees_the_codes_and_the_warning_in_italian(
    italian_page: Page, make_plan: MakePlan
) -> None:
    make_plan("plus", price_cents=3999)
    page = italian_page
    page.goto("/store/plus")
    page.get_by_label("Numero di codici di attivazione").fill("1")
    page.get_by_label("Il tuo nome").fill("Maria Bianchi")
    page.get_by_label("Indirizzo email").fill(fresh_email("acquirente"))
    page.get_by_role("button", name="Procedi al pagamento").click()
    pay(
        page,
        card_label="Numero della carta",
        expiry_label="Data di scadenza",
        cvc_label="Codice di sicurezza (CVC)",
        button="Paga 39,99\xa0€",
    )

    expect(
        page.get_by_role("heading", name="Il tuo codice di attivazione", level=2)
    ).to_be_visible()
    expect(page.locator(".codes-once")).to_contain_text("Mostrati una sola volta.")
    expect(page.locator(".codes-once")).to_contain_text("questa pagina non lo mostrerà più")
    assert len(CODE.findall(page.locator(".codes-once").inner_text())) == 1
    page.reload()
    expect(page.locator(".codes-shown")).to_contain_text(
        "Il codice è stato mostrato una volta in questa pagina"
    )


def test_a_signed_in_customer_is_asked_for_the_name_once_and_never_for_the_email(
    page: Page,
    make_account: MakeAccount,
    make_plan: MakePlan,
    make_order: MakeOrder,
    database: Database,
) -> None:
    make_plan("premium", price_cents=5999)
    customer = make_account()
    sign_in(page, customer.email, PASSWORD)

    # The first purchase asks the name (the account has none yet), never the email.
    page.goto("/store/premium")
    expect(page.get_by_label("Email address")).to_have_count(0)
    page.get_by_label("Your name").fill("Carla Verdi")
    page.get_by_role("button", name="Continue to payment").click()
    pay(
        page,
        card_label="Card number",
        expiry_label="Expiry date",
        cvc_label="Security code (CVC)",
        button="Pay €59.99",
    )
    expect(page.get_by_role("heading", name="Thank you for your purchase")).to_be_visible()

    # The next one knows both.
    page.goto("/store/premium")
    expect(page.get_by_label("Your name")).to_have_count(0)
    expect(page.get_by_label("Email address")).to_have_count(0)
    expect(page.locator(".buyer")).to_contain_text(f"Buying as Carla Verdi, {customer.email}")
    page.get_by_role("button", name="Continue to payment").click()
    pay(
        page,
        card_label="Card number",
        expiry_label="Expiry date",
        cvc_label="Security code (CVC)",
        button="Pay €59.99",
    )
    expect(page.get_by_role("heading", name="Thank you for your purchase")).to_be_visible()
    with database.transaction() as session:
        orders = session.scalars(select(Order).where(Order.account_id == customer.id)).all()
        assert [(order.customer_name, order.customer_email) for order in orders] == [
            ("Carla Verdi", customer.email)
        ] * 2


def test_a_signed_in_italian_customer_is_not_asked_again(
    italian_page: Page, make_account: MakeAccount, make_plan: MakePlan, make_order: MakeOrder
) -> None:
    make_plan("premium", price_cents=5999)
    customer = make_account(language="it")
    make_order("premium", email=customer.email, name="Maria Bianchi", account_id=customer.id)
    sign_in_italian(italian_page, customer.email, PASSWORD)

    italian_page.goto("/store/premium")
    expect(italian_page.get_by_label("Il tuo nome")).to_have_count(0)
    expect(italian_page.locator(".buyer")).to_contain_text(
        f"Acquisti come Maria Bianchi, {customer.email}"
    )
