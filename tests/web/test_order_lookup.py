"""Order lookup (F5) as a customer clicks it: real Chromium, real server, real SMTP.

From the home page to the lookup form; a store order's confirmation, with its code,
arrives again at the order's own address and the code activates; a customer who chose a
partner sees how to reach it; a partner's order looked up with "I don't know" gets a
mail naming the partner.
"""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from licensor.store.orders import PlacedOrder
from tests.accounts.factories import fresh_email
from tests.licensing.factories import activate, device
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import MakeOrder, MakePartner


def open_lookup_from_home(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="Bought online? Find your order").click()
    expect(page.get_by_role("heading", name="Find your order", level=1)).to_be_visible()


def fill_in(page: Page, where: str, order: PlacedOrder, *, email: str, name: str) -> None:
    page.get_by_role("group", name="Where did you buy?").get_by_label(where).check()
    page.get_by_label("Order number").fill(order.number)
    page.get_by_label("Purchase date").fill(order.purchased_at.date().isoformat())
    page.get_by_label("Name used for the purchase").fill(name)
    page.get_by_label("Email address used for the purchase").fill(email)
    page.get_by_role("button", name="Send my order again").click()
    expect(page.get_by_role("heading", name="Check your inbox", level=1)).to_be_visible()
    expect(page.get_by_text("If these details match an order")).to_be_visible()


def test_a_store_customer_gets_the_order_again_from_the_home_page_and_the_code_activates(
    page: Page, api: httpx.Client, mail_worker: SmtpServer, make_order: MakeOrder
) -> None:
    order = make_order(email=fresh_email("buyer"), name="Mario Rossi")
    mail_worker.inbox.to(order.email, order.number)  # the purchase's own mail, first

    open_lookup_from_home(page)
    fill_in(page, "In our online store", order, email=order.email.upper(), name="rossi mario")

    assert order.codes[0] not in page.content()
    again = mail_worker.inbox.to(order.email, "again")
    text = text_of(again)
    assert order.number in text
    assert order.codes[0] in text
    assert {str(message["To"]) for message in mail_worker.inbox.messages} == {order.email}
    activated = activate(api, order.codes[0], device())
    assert activated["devices_used"] == 1


def test_a_customer_who_chose_a_partner_sees_how_to_reach_it_and_what_to_give(
    page: Page, make_partner: MakePartner, make_order: MakeOrder
) -> None:
    partner = make_partner(name="Negozio Roma", phone="+39 06 1234 5678")
    order = make_order(partner=partner.slug)

    open_lookup_from_home(page)
    fill_in(page, "Negozio Roma", order, email=order.email, name="Mario Rossi")

    section = page.get_by_role("region", name="Negozio Roma")
    expect(section.get_by_role("link", name=partner.email)).to_have_attribute(
        "href", f"mailto:{partner.email}"
    )
    expect(section.get_by_role("link", name=partner.url)).to_have_attribute("href", partner.url)
    expect(section.get_by_text(partner.phone)).to_be_visible()
    for needed in (
        "The purchase date",
        "The name and email address used for the purchase",
        "The order number, from the order confirmation email",
    ):
        expect(section.get_by_role("listitem").filter(has_text=needed)).to_be_visible()
    expect(page.get_by_role("link", name="Look up another order")).to_be_visible()


def test_a_partner_order_looked_up_without_knowing_the_seller_gets_a_mail_naming_it(
    page: Page, mail_worker: SmtpServer, make_partner: MakePartner, make_order: MakeOrder
) -> None:
    partner = make_partner(name="Negozio Roma", phone="+39 06 1234 5678")
    order = make_order(partner=partner.slug, email=fresh_email("buyer"))

    open_lookup_from_home(page)
    fill_in(page, "I don't know", order, email=order.email, name="Mario Rossi")

    expect(page.get_by_text("Negozio Roma")).to_have_count(0)  # the page does not tell
    mail = mail_worker.inbox.to(order.email, "Negozio Roma")
    text = text_of(mail)
    for value in (order.number, partner.email, partner.url, partner.phone):
        assert value in text
    assert order.codes[0] not in text


def test_the_partner_directory_is_one_click_from_home(
    page: Page, make_partner: MakePartner
) -> None:
    partner = make_partner(name="Negozio Roma")

    page.goto("/")
    page.get_by_role("link", name="Bought from a partner? Contact them").click()

    expect(page.get_by_role("heading", name="Our partners", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Negozio Roma")).to_be_visible()
    expect(page.get_by_role("link", name=partner.email)).to_be_visible()


def test_a_missing_email_is_shown_beside_the_field(page: Page, make_order: MakeOrder) -> None:
    order = make_order()

    open_lookup_from_home(page)
    page.get_by_label("In our online store").check()
    page.get_by_label("Order number").fill(order.number)
    page.get_by_label("Name used for the purchase").fill("Mario Rossi")
    page.get_by_role("button", name="Send my order again").click()

    email = page.get_by_label("Email address used for the purchase")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description("This field is required.")
    expect(page.get_by_label("Order number")).to_have_value(order.number)
