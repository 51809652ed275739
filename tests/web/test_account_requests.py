"""My Account's support requests in a real browser: the list (those sent signed in and
those sent with the account's verified address; never anyone else's) with number, topic,
status and date; each request's thread, its screenshot's name and the reply form; and,
once an agent has sent the code from the desk, "We sent your activation code to …" on the
customer's pages (English and Italian) and in the requester's mail when the code went to
another address of record."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select

from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import AccountEmail
from tests.accounts.factories import (
    LinkCode,
    MakeAccount,
    OpenBrowser,
    fresh_email,
    outbox,
    signed_in,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import activate, device
from tests.store.factories import MakeOrder
from tests.support.factories import MakeRequest, Reading, SignInStaff, png_bytes
from tests.web.conftest import sign_in, sign_in_italian


def code_id(open_unit: OpenUnit, code: str) -> int:
    with open_unit() as unit:
        return unit.codes.find_code(code).id


def send_code(
    sign_in_staff: SignInStaff, open_unit: OpenUnit, number: str, code: str, destination: str
) -> None:
    """The desk's "send the code" to an address of record, then solved."""
    agent, _ = sign_in_staff()
    sent = agent.post(
        f"/desk/requests/{number}/send-code",
        {
            "code_id": str(code_id(open_unit, code)),
            "destination": destination,
            "reason": "key verified on the screenshot",
            "then": "solved",
        },
    )
    assert sent.status_code == 303, sent.text


def test_the_customer_reads_and_answers_requests_in_my_account_and_sees_the_code_was_sent(
    page: Page,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    open_unit: OpenUnit,
    form_browser: OpenBrowser,
) -> None:
    customer = make_account()
    linked = linked_code(customer)
    reading = Reading(f"License key {linked.license_key}", linked.license_key, True)
    signed = make_request(
        account_id=customer.id, email=customer.email, screenshot=png_bytes(), reading=reading
    )
    by_address = make_request(email=customer.email, topic="other", message="Another question")
    someone_else = make_request(message="Not yours")
    send_code(sign_in_staff, open_unit, signed.number, linked.code, "request")

    sign_in(page, customer.email, customer.password)
    page.goto("/account/licenses")
    page.get_by_role("navigation", name="My Account").get_by_role(
        "link", name="Support requests"
    ).click()
    expect(page).to_have_url(re.compile(r"/account/requests$"))
    listing = page.get_by_role("main")
    expect(listing).to_contain_text(signed.number)
    expect(listing).to_contain_text(by_address.number)
    expect(listing).not_to_contain_text(someone_else.number)
    expect(listing).to_contain_text("Recover an activation code from a printed card")
    card = page.locator("li.request", has_text=signed.number)
    expect(card.locator(".badge")).to_have_text("Solved")
    expect(card).to_contain_text(f"We sent your activation code to {customer.email} on ")

    card.get_by_role("link", name=f"Request {signed.number}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Support request {signed.number}")
    expect(page.locator(".request-update")).to_contain_text(
        f"We sent your activation code to {customer.email} on "
    )
    expect(page.locator(".thread")).to_contain_text("I lost the card with my activation code.")
    expect(page.locator(".thread")).to_contain_text("license-details.png")
    expect(page.locator(".thread")).not_to_contain_text("key verified")  # the desk's note

    page.get_by_label("Your answer").fill("Thank you, it works.")
    page.get_by_role("button", name="Send the answer").click()
    expect(page.get_by_role("status")).to_contain_text("Your answer has been added")
    expect(page.locator(".thread")).to_contain_text("Thank you, it works.")
    expect(page.locator(".request-status")).to_have_text("Being worked on")
    assert page.url.split("?")[0].endswith(f"/account/requests/{signed.number}")

    # Another account opens neither the request nor its screenshot.
    stranger = signed_in(form_browser, make_account())
    assert stranger.get(f"/account/requests/{signed.number}").status_code == 404
    assert stranger.get(f"/account/requests/{someone_else.number}").status_code == 404
    owner = signed_in(form_browser, customer)
    assert owner.get(f"/account/requests/{someone_else.number}").status_code == 404
    screenshot = re.search(
        rf"/account/requests/{signed.number}/attachments/\d+",
        owner.get(f"/account/requests/{signed.number}").text,
    )
    assert screenshot, "no link to the screenshot"
    picture = owner.get(screenshot.group(0))
    assert (picture.status_code, picture.headers["content-type"]) == (200, "image/png")
    assert stranger.get(screenshot.group(0)).status_code == 404
    moved = owner.get("/account/support")
    assert (moved.status_code, moved.headers["location"]) == (301, "/account/requests")


def test_a_further_address_brings_in_its_requests_once_verified(
    make_account: MakeAccount,
    make_request: MakeRequest,
    form_browser: OpenBrowser,
    open_unit: OpenUnit,
    clock: Clock,
) -> None:
    customer = make_account()
    further = fresh_email("other")
    with open_unit() as unit:
        unit.session.add(
            AccountEmail(account_id=customer.id, email=further, created_at=clock.now())
        )
    request = make_request(email=further)
    browser = signed_in(form_browser, customer)
    assert request.number not in browser.get("/account/requests").text
    assert browser.get(f"/account/requests/{request.number}").status_code == 404

    with open_unit() as unit:
        added = unit.session.scalars(select(AccountEmail).where(AccountEmail.email == further))
        added.one().verified_at = clock.now()
    assert request.number in browser.get("/account/requests").text
    assert browser.get(f"/account/requests/{request.number}").status_code == 200


def test_in_italian_the_page_says_where_the_code_went(
    italian_page: Page,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    open_unit: OpenUnit,
) -> None:
    customer = make_account(language="it")
    linked = linked_code(customer)
    reading = Reading(f"License key {linked.license_key}", linked.license_key, True)
    request = make_request(
        account_id=customer.id,
        email=customer.email,
        language="it",
        screenshot=png_bytes(),
        reading=reading,
    )
    send_code(sign_in_staff, open_unit, request.number, linked.code, "request")

    sign_in_italian(italian_page, customer.email, customer.password)
    italian_page.goto("/account/requests")
    card = italian_page.locator("li.request", has_text=request.number)
    expect(card.locator(".badge")).to_have_text("Risolta")
    expect(card).to_contain_text(
        f"Abbiamo inviato il tuo codice di attivazione a {customer.email} il "
    )
    card.get_by_role("link", name=f"Richiesta {request.number}").click()
    expect(italian_page.get_by_role("heading", name="Cosa abbiamo fatto")).to_be_visible()
    expect(italian_page.locator(".request-update")).to_contain_text(
        f"Abbiamo inviato il tuo codice di attivazione a {customer.email} il "
    )


def test_a_code_sent_to_the_order_address_tells_the_requester_where_by_mail_and_on_the_page(
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    open_unit: OpenUnit,
    form_browser: OpenBrowser,
) -> None:
    order = make_order("plus", email="mario.rossi@example.com")
    activated = activate(api, order.codes[0], device())
    reading = Reading("key", activated["license_key"], True)
    request = make_request(screenshot=png_bytes(), reading=reading)
    send_code(sign_in_staff, open_unit, request.number, order.codes[0], "order")

    [update] = outbox(database, request.email, "support_update")
    text, _ = bodies(keyring, update)
    assert "We sent your activation code to ma***@example.com on " in text
    assert order.codes[0] not in text
    assert request.number in update.subject
    follow = form_browser().get(request.follow_path)
    assert "We sent your activation code to ma***@example.com on " in follow.text
    assert "mario.rossi@example.com" not in follow.text


def test_seats_freed_by_the_desk_are_told_on_the_page_and_by_mail_with_their_count(
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    open_unit: OpenUnit,
    form_browser: OpenBrowser,
) -> None:
    order = make_order("plus")
    first = activate(api, order.codes[0], device("Laptop"))
    activate(api, order.codes[0], device("Desktop"))
    request = make_request(email=fresh_email("requester"), topic="other")
    with open_unit() as unit:
        license_id = unit.licenses.find_license(first["license_key"]).id
    agent, _ = sign_in_staff()
    freed = agent.post(
        f"/desk/requests/{request.number}/release",
        {"license_id": str(license_id), "activation_id": "all", "reason": "moving house"},
    )
    assert freed.status_code == 303, freed.text

    told = f"We freed 2 device seats of license {first['public_id']} on "
    assert told in form_browser().get(request.follow_path).text
    [update] = outbox(database, request.email, "support_update")
    assert (
        f"We freed 2 device seats of your license {first['public_id']}"
        in bodies(keyring, update)[0]
    )
