"""Purchases that find their account (issue 14, item 1), through the pages as a browser
without JavaScript posts them: an order joins the account that verifies its address (at
sign-up, by a further address confirmed, at payment), "find my purchases" mails each
verified address, and an address someone else holds joins nothing and tells nobody.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import ActivationCode, Order
from tests.accounts.factories import (
    PASSWORD,
    Browser,
    Customer,
    MakeAccount,
    OpenBrowser,
    fresh_email,
    link_in_mail,
    outbox,
    signed_in,
)
from tests.limits import StartLimitedServer
from tests.store.factories import MakeOrder, MakePartner
from tests.support import audit_events


def order_row(database: Database, number: str) -> Order:
    with database.transaction() as session:
        order = session.scalar(select(Order).where(Order.number == number))
        assert order is not None
        return order


def code_owners(database: Database, number: str) -> list[int | None]:
    with database.transaction() as session:
        order = session.scalar(select(Order).where(Order.number == number))
        assert order is not None
        return list(
            session.scalars(
                select(ActivationCode.account_id).where(ActivationCode.order_id == order.id)
            )
        )


def mail_text(keyring: Keyring, database: Database, to: str, template: str) -> str:
    messages = outbox(database, to, template)
    assert messages, f"no {template} mail to {to}"
    return bodies(keyring, messages[-1])[0]


def add_address(browser: Browser, email: str) -> None:
    response = browser.post("/account/emails", {"email": email})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account/emails?done=sent"


def confirm(form_browser: OpenBrowser, keyring: Keyring, database: Database, email: str) -> str:
    """Open the confirmation link mailed to ``email`` in a browser of its own."""
    [message] = outbox(database, email, "account_email_confirm")[-1:]
    path = link_in_mail(keyring, message, "/account/emails/confirm")
    browser = form_browser()
    form = browser.get(path)
    assert form.status_code == 200
    token = path.split("token=", 1)[1]
    return browser.post("/account/emails/confirm", {"token": token}, token=None).text


def test_a_guest_order_joins_the_account_that_signs_up_and_confirms_its_email(
    form_browser: OpenBrowser,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    email = fresh_email("guest")
    order = make_order("plus", email=email, quantity=2)
    assert order_row(database, order.number).account_id is None

    browser = form_browser()
    response = browser.post("/sign-up", {"email": email, "password": PASSWORD})
    assert response.status_code == 200
    assert code_owners(database, order.number) == [None, None]  # not before it is verified
    [verification] = outbox(database, email, "verify_email")
    token = link_in_mail(keyring, verification, "/verify-email").split("token=", 1)[1]
    assert browser.post("/verify-email", {"token": token}).status_code == 200

    account_id = order_row(database, order.number).account_id
    assert account_id is not None
    assert code_owners(database, order.number) == [account_id, account_id]
    browser.sign_in(Customer(account_id, email, PASSWORD))
    licenses = browser.get("/account/licenses").text
    assert all(code in licenses for code in order.codes)
    assert order.number in browser.get("/account/orders").text

    joined = mail_text(keyring, database, email, "purchases_joined")
    assert order.number in joined
    assert "2 activation codes added to Licenses" in joined
    [event] = audit_events(database, "accounts.order_joined")
    assert (event.subject_type, event.details["number"], event.details["via"]) == (
        "order",
        order.number,
        "sign_up",
    )
    # One mail for the order, not one per code.
    assert outbox(database, email, "license_added") == []


def test_a_further_address_brings_its_orders_only_once_confirmed(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    customer = make_account()
    other_address = fresh_email("work")
    order = make_order("plus", email=other_address)
    browser = signed_in(form_browser, customer)

    add_address(browser, other_address)
    page = browser.get("/account/emails?done=sent").text
    assert other_address in page
    assert "Waiting for confirmation" in page
    assert order.number not in browser.get("/account/orders").text

    assert "The address is confirmed" in confirm(form_browser, keyring, database, other_address)
    assert order_row(database, order.number).account_id == customer.id
    assert order.number in browser.get("/account/orders").text
    assert order.codes[0] in browser.get("/account/licenses").text
    assert "Confirmed" in browser.get("/account/emails").text
    assert [e.details["via"] for e in audit_events(database, "accounts.order_joined")] == [
        "added_email"
    ]
    assert order.number in mail_text(keyring, database, customer.email, "purchases_joined")

    # A later order placed with it joins at once (at payment), without anyone asking.
    later = make_order("plus", email=other_address)
    assert order_row(database, later.number).account_id == customer.id
    assert code_owners(database, later.number) == [customer.id]


def test_an_address_another_account_confirmed_joins_nothing_and_the_page_does_not_say_so(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    someone_else = make_account()
    their_order = make_order("plus", email=someone_else.email)  # joins them at once
    assert order_row(database, their_order.number).account_id == someone_else.id
    attacker = make_account()
    browser = signed_in(form_browser, attacker)
    nobodys = fresh_email("nobody")

    add_address(browser, someone_else.email)
    add_address(browser, nobodys)
    page = browser.get("/account/emails?done=sent").text
    # Both listed alike, waiting: the page cannot tell a held address from a free one.
    for address in (someone_else.email, nobodys):
        assert re.search(re.escape(address) + r".{0,400}Waiting for confirmation", page, re.S)

    assert outbox(database, someone_else.email, "account_email_confirm") == []
    told = mail_text(keyring, database, someone_else.email, "account_email_taken")
    assert "nothing was changed" in told
    assert "http" in told
    assert outbox(database, nobodys, "account_email_confirm")
    assert order_row(database, their_order.number).account_id == someone_else.id
    assert their_order.number not in browser.get("/account/orders").text
    assert their_order.codes[0] not in browser.get("/account/licenses").text


def test_a_code_already_in_another_account_stays_there_and_the_mail_says_so(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    email = fresh_email("giver")
    order = make_order("plus", email=email, quantity=2)
    friend = make_account()
    friend_browser = signed_in(form_browser, friend)
    added = friend_browser.post("/account/licenses", {"activation_code": order.codes[0]})
    assert added.status_code == 200, added.text

    buyer = make_account(fresh_email("buyer"))
    browser = signed_in(form_browser, buyer)
    add_address(browser, email)
    confirm(form_browser, keyring, database, email)

    assert sorted(code_owners(database, order.number), key=str) == sorted(
        [friend.id, buyer.id], key=str
    )
    joined = mail_text(keyring, database, buyer.email, "purchases_joined")
    assert "1 activation code added to Licenses" in joined
    assert "1 code was already in another account and stays there" in joined
    orders_page = browser.get("/account/orders").text
    assert order.codes[1] in orders_page
    assert order.codes[0] not in orders_page


def test_find_my_purchases_joins_what_had_not_and_mails_each_verified_address(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_partner: MakePartner,
    database: Database,
    keyring: Keyring,
) -> None:
    email = fresh_email("early")
    before = make_order("plus", email=email)  # placed before the account existed
    customer = make_account(email)  # made verified by the back office: nothing joined yet
    assert order_row(database, before.number).account_id is None
    spare = fresh_email("spare")
    browser = signed_in(form_browser, customer)
    add_address(browser, spare)
    confirm(form_browser, keyring, database, spare)

    response = browser.post("/account/orders/find")
    assert response.status_code == 303
    assert response.headers["location"] == "/account/orders?done=found"
    assert "sent a list to each" in browser.get("/account/orders?done=found").text
    assert order_row(database, before.number).account_id == customer.id

    found = mail_text(keyring, database, email, "purchases_found")
    assert before.number in found
    assert "(added now)" in found
    none = mail_text(keyring, database, spare, "purchases_found")
    assert "We found no order placed with" in none
    assert [e.details["via"] for e in audit_events(database, "accounts.order_joined")] == ["find"]


def test_a_partner_sale_recorded_with_a_verified_address_joins_and_the_owner_is_told(
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_partner: MakePartner,
    database: Database,
    keyring: Keyring,
) -> None:
    customer = make_account()
    partner = make_partner()
    sale = make_order("plus", email=customer.email, partner=partner.slug)
    assert order_row(database, sale.number).account_id == customer.id
    assert code_owners(database, sale.number) == [customer.id]
    assert sale.number in mail_text(keyring, database, customer.email, "purchases_joined")


def test_adding_addresses_and_finding_purchases_are_rate_limited_per_account(
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
) -> None:
    customer = make_account()
    with limited_server(account_email_rate="2/minute", find_purchases_rate="1/minute") as limited:
        browser = form_browser(limited.url)
        browser.sign_in(customer)
        for _ in range(2):
            add_address(browser, fresh_email("many"))
        assert browser.post("/account/emails", {"email": fresh_email("many")}).status_code == 429
        assert browser.post("/account/orders/find").status_code == 303
        assert browser.post("/account/orders/find").status_code == 429
