"""Buying a code in the store (F2) as a customer clicks it: real Chromium, the real server,
the built-in test payment provider, mail through a real SMTP server on loopback.

Plus the store's pages as a browser without JavaScript sees them (httpx): prices in the
visitor's language, CSRF on every form, and the rate limit on checkout starts.
"""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select

from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import ActivationCode, Order, OrderStatus
from tests.accounts.factories import (
    PASSWORD,
    Browser,
    MakeAccount,
    OpenBrowser,
    fresh_email,
    outbox,
)
from tests.licensing.factories import MakePlan, activate, device
from tests.limits import StartLimitedServer
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import DECLINED, PAYS, card_expiry
from tests.web.conftest import sign_in

CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")
ORDER_NUMBER = re.compile(r"^ORD-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def open_plan_from_home(page: Page, plan: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Buy an activation code in the store").click()
    expect(page.get_by_role("heading", name="Store", level=1)).to_be_visible()
    page.get_by_role("link", name=f"Buy {plan}").click()
    expect(page.get_by_role("heading", name=f"Buy {plan}", level=1)).to_be_visible()


def fill_buy_form(page: Page, *, name: str, email: str | None, quantity: int = 1) -> None:
    page.get_by_label("Number of activation codes").fill(str(quantity))
    page.get_by_label("Your name").fill(name)
    if email is not None:
        page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Continue to payment").click()


def pay_with(page: Page, card: str, amount: str) -> None:
    expect(page.get_by_text("TEST MODE", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=f"Pay {amount}", level=1)).to_be_visible()
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry date").fill(card_expiry())
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name=f"Pay {amount}").click()


def thanks_order_number(page: Page) -> str:
    expect(page.get_by_role("heading", name="Thank you for your purchase", level=1)).to_be_visible()
    number = page.locator(".order-number").inner_text().strip()
    assert ORDER_NUMBER.match(number), number
    return number


# --- in a real browser ------------------------------------------------------------------------


def test_a_customer_buys_a_code_gets_it_by_mail_and_the_code_activates(
    page: Page, api: httpx.Client, mail_worker: SmtpServer, make_plan: MakePlan
) -> None:
    make_plan("plus", price_cents=3999, devices_max=3)
    email = fresh_email("buyer")

    open_plan_from_home(page, "Plus")
    fill_buy_form(page, name="Mario Rossi", email=email)
    pay_with(page, PAYS, "€39.99")

    number = thanks_order_number(page)
    expect(page.get_by_role("status")).to_contain_text(
        f"We have sent your activation code to {email}"
    )
    mail = mail_worker.inbox.to(email, number)
    text = text_of(mail)
    assert number in text
    [code] = CODE.findall(text)
    # The browser that paid saw it on the thanks page too, once (test_store_thanks.py).
    expect(page.locator(".codes-once code")).to_have_text(code)
    activated = activate(api, code, device())
    assert (activated["plan"], activated["devices_max"]) == ("plus", 3)


def test_a_declined_card_says_so_and_the_customer_can_try_again(
    page: Page, make_plan: MakePlan, database: Database
) -> None:
    make_plan("plus", price_cents=3999)
    email = fresh_email("buyer")

    open_plan_from_home(page, "Plus")
    fill_buy_form(page, name="Anna Bianchi", email=email, quantity=2)
    pay_with(page, DECLINED, "€79.98")

    expect(page.get_by_role("heading", name="Your payment was declined", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("no money was taken and no code was sent")
    page.get_by_role("button", name="Try again").click()
    pay_with(page, PAYS, "€79.98")

    number = thanks_order_number(page)
    # One order, one number, whatever the attempts: the number the declined page had.
    with database.transaction() as session:
        [order] = session.scalars(select(Order).where(Order.customer_email == email)).all()
        assert (order.status, order.number) == (OrderStatus.PAID, number)
        codes = session.scalars(
            select(ActivationCode).where(ActivationCode.order_id == order.id)
        ).all()
        assert len(codes) == 2


def test_a_signed_in_purchase_lists_the_code_in_my_account(
    page: Page,
    make_account: MakeAccount,
    make_plan: MakePlan,
    database: Database,
    keyring: Keyring,
) -> None:
    make_plan("premium", price_cents=5999)
    customer = make_account()
    sign_in(page, customer.email, PASSWORD)
    expect(page.get_by_role("heading", name="My Account", level=1)).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Store").click()
    page.get_by_role("link", name="Buy Premium").click()
    # The account's address, not a field; the name is asked the first time only.
    expect(page.get_by_label("Email address")).to_have_count(0)
    expect(page.get_by_text(f"the codes go to {customer.email}")).to_be_visible()
    fill_buy_form(page, name="Carla Verdi", email=None, quantity=2)
    pay_with(page, PAYS, "€119.98")
    number = thanks_order_number(page)
    page.get_by_role("link", name="My Account → Licenses").click()

    [mail] = outbox(database, customer.email, "order_confirmation")
    assert number in mail.subject
    codes = CODE.findall(bodies(keyring, mail)[0])
    assert len(codes) == 2
    licenses = page.get_by_role("main")
    expect(licenses).to_contain_text("Premium")
    for code in codes:
        expect(licenses).to_contain_text(code)


def test_the_buy_form_says_what_needs_another_look_beside_each_field(
    page: Page, make_plan: MakePlan
) -> None:
    make_plan("plus", price_cents=3999)

    open_plan_from_home(page, "Plus")
    fill_buy_form(page, name="", email="mario@", quantity=11)

    quantity = page.get_by_label("Number of activation codes")
    expect(quantity).to_have_attribute("aria-invalid", "true")
    expect(quantity).to_have_accessible_description(re.compile("Choose 1 to 10 codes."))
    expect(quantity).to_have_value("11")
    expect(page.get_by_label("Your name")).to_have_accessible_description(
        re.compile("This field is required.")
    )
    email = page.get_by_label("Email address")
    expect(email).to_have_accessible_description(re.compile("Enter an email address like"))
    expect(email).to_have_value("mario@")


# --- the pages, as plain HTTP -----------------------------------------------------------------


def test_the_store_lists_the_priced_plans_with_prices_in_the_visitors_language(
    form_browser: OpenBrowser, make_plan: MakePlan
) -> None:
    make_plan("plus", price_cents=3999, devices_max=3, term_days=365)
    make_plan("internal")  # no price: not sold
    visitor = form_browser()

    english = visitor.get("/store?lang=en")
    italian = visitor.get("/store?lang=it")

    assert english.status_code == italian.status_code == 200
    for shown in ("Plus", "€39.99", "3 devices", "1 year, from the first activation"):
        assert shown in english.text
    assert "Internal" not in english.text
    assert "39,99\xa0€" in italian.text
    assert visitor.get("/store/internal").status_code == 404
    assert visitor.get("/store/no-such-plan").status_code == 404


def test_store_forms_without_their_csrf_token_are_refused_and_make_no_order(
    form_browser: OpenBrowser, make_plan: MakePlan, database: Database
) -> None:
    make_plan("plus", price_cents=3999)
    visitor = form_browser()
    visitor.csrf_token("/store/plus")  # the browser has its cookie; only the field is missing

    answer = visitor.post(
        "/store/plus", {"quantity": "1", "name": "M R", "email": fresh_email("buyer")}, token=""
    )

    assert answer.status_code == 403
    with database.transaction() as session:
        assert session.scalars(select(Order)).all() == []


def test_checkout_starts_are_limited_per_address(
    limited_server: StartLimitedServer, make_plan: MakePlan
) -> None:
    make_plan("plus", price_cents=3999)

    with limited_server(checkout_rate="2/minute") as limited:
        visitor = Browser(limited.url)
        try:
            token = visitor.csrf_token("/store/plus")
            answers = [
                visitor.post(
                    "/store/plus",
                    {"quantity": "1", "name": "M R", "email": fresh_email("buyer")},
                    token=token,
                )
                for _ in range(3)
            ]
        finally:
            visitor.close()

    assert [answer.status_code for answer in answers] == [303, 303, 429]
    assert "/store/pay/test/pay_" in answers[0].headers["location"]
    assert int(answers[2].headers["retry-after"]) > 0
