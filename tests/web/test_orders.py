"""Purchases that find the account, and My Account's Orders (issue 14, items 1-2), as a
customer clicks them: real Chromium, the real server, mail through a real SMTP server.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from licensor.db import Database
from tests.accounts.factories import PASSWORD, MakeAccount, fresh_email
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import MakeOrder
from tests.support import audit_events
from tests.web.conftest import sign_in
from tests.web.test_account_flows import link_from


def test_a_guest_order_shows_in_licenses_and_orders_once_the_buyer_signs_up(
    page: Page,
    server: str,
    mail_worker: SmtpServer,
    make_order: MakeOrder,
    database: Database,
) -> None:
    email = fresh_email("guest")
    order = make_order("plus", email=email, name="Mario Rossi")
    confirmation = text_of(mail_worker.inbox.to(email, order.number))
    assert "Total paid: €39.99" in confirmation
    assert f"{server}/sign-up" in confirmation  # how the order will find an account

    page.goto("/sign-up")
    expect(page.get_by_text("once you confirm it, your orders placed with it")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    verification = mail_worker.inbox.to(email, "Confirm your email address")
    page.goto(link_from(verification, server, "/verify-email?token="))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("heading", name="Your email address is confirmed")).to_be_visible()

    joined = text_of(mail_worker.inbox.to(email, "joined your account"))
    assert order.number in joined
    sign_in(page, email, PASSWORD)
    # Licenses: the code in full on its card
    expect(page.locator("code.activation-code", has_text=order.codes[0])).to_be_visible()

    page.get_by_role("navigation", name="My Account").get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", name="Orders", level=2)).to_be_visible()
    card = page.locator("li.order").filter(has_text=order.number)
    expect(card).to_contain_text("€39.99")
    expect(card).to_contain_text("Paid")
    expect(card.get_by_text(order.codes[0], exact=True)).to_be_visible()
    href = card.get_by_role("link", name="Receipt (PDF)").get_attribute("href")
    receipt = page.request.get(f"{server}{href}")  # with this browser's cookies
    assert receipt.status == 200
    assert receipt.headers["content-type"] == "application/pdf"
    assert receipt.body().startswith(b"%PDF")
    [event] = audit_events(database, "accounts.order_joined")
    assert event.details["number"] == order.number


def test_in_italian_a_further_address_is_confirmed_and_its_order_joins_at_390_px(
    italian_page: Page,
    server: str,
    mail_worker: SmtpServer,
    make_account: MakeAccount,
    make_order: MakeOrder,
) -> None:
    page = italian_page
    page.set_viewport_size({"width": 390, "height": 844})
    customer = make_account(language="it")
    other = fresh_email("lavoro")
    order = make_order("plus", email=other, language="it")

    page.goto("/sign-in")
    page.get_by_label("Indirizzo email").fill(customer.email)
    page.get_by_label("Password").fill(customer.password)
    page.get_by_role("button", name="Accedi").click()
    page.get_by_role("navigation", name="Il mio account").get_by_role(
        "link", name="Indirizzi email"
    ).click()
    expect(page.get_by_role("heading", name="Indirizzi email", level=2)).to_be_visible()
    page.get_by_label("Indirizzo email").fill(other)
    page.get_by_role("button", name="Invia un link di conferma").click()
    expect(page.get_by_role("status")).to_contain_text("Abbiamo inviato un link di conferma")
    expect(page.locator("li.card").filter(has_text=other)).to_contain_text("In attesa di conferma")
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390, overflow

    message = mail_worker.inbox.to(other, "Conferma questo indirizzo")
    page.goto(link_from(message, server, "/account/emails/confirm?token="))
    page.get_by_role("button", name="Conferma questo indirizzo").click()
    expect(page.get_by_role("heading", name="L'indirizzo è confermato")).to_be_visible()
    page.get_by_role("link", name="Apri Ordini").click()

    card = page.locator("li.order").filter(has_text=order.number)
    expect(card).to_contain_text("39,99")
    expect(card).to_contain_text("Pagato")
    expect(card.get_by_role("link", name="Ricevuta (PDF)")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390, overflow
    assert order.number in text_of(mail_worker.inbox.to(customer.email, "nel tuo account"))

    page.get_by_role("button", name="Trova i miei acquisti").click()
    expect(page.get_by_role("status")).to_contain_text("Abbiamo cercato i tuoi acquisti")
    found = text_of(mail_worker.inbox.to(other, "I tuoi acquisti con"))
    assert order.number in found
