"""The support desk in a real browser: F6 whole (a printed card lost; the customer sends the
reference app's screenshot; OCR reads the key in the worker; an agent signed in with
two-factor sees it verified, opens the license and sends the code, which reaches a real
SMTP server on loopback) and F7 (a purchase missing from My Account, bought with another
address: the agent's click asks that address, whose owner confirms by the mailed link;
then the customer's Licenses list it)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.sender import SmtpSender
from licensor.worker import build_worker
from licensor_app.screenshot import save_license_details
from tests.accounts.factories import (
    TOTP_SECRET,
    Customer,
    MakeAccount,
    link_in_mail,
    outbox,
    two_factor_code,
)
from tests.licensing.factories import MakeCode, activate, device
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import MakeOrder
from tests.support import audit_events
from tests.web.conftest import sign_in

CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")


@pytest.fixture
def worker(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock, smtp: SmtpServer
) -> Iterator[SmtpServer]:
    """``licensor worker`` in a thread: background jobs (the OCR reading) and the outbox."""
    sender = SmtpSender(smtp.url, keyring, settings.mail_from, timeout=10)
    with build_worker(database, keyring, settings, clock.now, sender=sender).running(
        idle_seconds=0.1
    ):
        yield smtp


def sign_in_as_staff(page: Page, staff: Customer, clock: Clock) -> None:
    page.goto("/")
    page.get_by_role("link", name="Staff: support desk").click()
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(staff.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name=re.compile("Continue|Sign in|Verify")).click()
    expect(page.get_by_role("heading", name="Support desk", level=1)).to_be_visible()


def new_page(browser: Browser, server: str) -> Page:
    context = browser.new_context(base_url=server, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def wait_for_text(page: Page, text: str, seconds: float = 60) -> None:
    """Reload until the page shows ``text`` (the desk needs no JavaScript to refresh)."""
    deadline = time.monotonic() + seconds
    while text not in page.content():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared")
        time.sleep(0.5)
        page.reload()


def test_f6_a_lost_card_is_recovered_from_the_apps_screenshot_by_an_agent(
    page: Page,
    browser: Browser,
    server: str,
    api: httpx.Client,
    make_code: MakeCode,
    make_account: MakeAccount,
    worker: SmtpServer,
    database: Database,
    clock: Clock,
    tmp_path: Path,
) -> None:
    code = make_code("plus")
    activated = activate(api, code, device("Home PC"))
    screenshot = save_license_details(
        tmp_path / "License details.png",
        activated["license_key"],
        activated["public_id"],
        "Plus",
        date.fromisoformat(activated["expires_at"][:10]),
    )
    email = "lost.card@example.com"

    # The customer writes to support with the app's screenshot.
    page.goto("/support?topic=recover_card_code")
    page.get_by_label("Your name").fill("Mario Rossi")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Message").fill("I lost the printed card with my activation code.")
    page.locator('input[type="file"][name="screenshot"]').set_input_files(str(screenshot))
    page.get_by_role("button", name="Send the request").click()
    number = page.locator(".request-number").inner_text().strip()
    assert number

    # An agent signs in with two-factor and opens the request from the queue.
    staff = make_account("agent.f6@example.com", roles=("agent",), totp_secret=TOTP_SECRET)
    desk = new_page(browser, server)
    sign_in_as_staff(desk, staff, clock)
    desk.get_by_role("link", name=number).click()
    expect(desk.get_by_role("heading", name=f"Request {number}", level=1)).to_be_visible()
    expect(desk.locator("#request-status")).to_have_text("Open")
    wait_for_text(desk, 'class="verified"')  # the worker has read the key
    expect(desk.get_by_role("img", name=re.compile("Screenshot"))).to_be_visible()
    key_groups = " ".join(
        activated["license_key"][i : i + 4] for i in range(0, len(activated["license_key"]), 4)
    )
    expect(desk.locator("code.license-key")).to_have_text(key_groups)
    expect(desk.locator("strong.verified")).to_have_text("verified")

    # The license found by that key; the code stays masked until it is sent.
    desk.get_by_role("link", name=f"Open license {activated['public_id']}").click()
    expect(desk.get_by_role("heading", name=f"License {activated['public_id']}")).to_be_visible()
    expect(desk.get_by_text("Home PC")).to_be_visible()
    assert code not in desk.content()
    expect(
        desk.get_by_label(re.compile(r"^The requester, lost\.card@example\.com"))
    ).to_be_checked()
    desk.locator("#send_reason").fill("screenshot of License details, key verified")
    desk.get_by_role("button", name="Send the activation code").click()
    expect(desk.get_by_role("status")).to_contain_text("The activation code was sent")
    expect(desk.locator("#request-status")).to_have_text("Solved")

    mail = worker.inbox.to(email, f"Your activation code (support request {number})")
    assert code in text_of(mail)
    [event] = audit_events(database, "support.code_sent")
    assert event.actor == f"agent:{staff.id}"
    assert event.reason == "screenshot of License details, key verified"
    assert event.details["request"] == number
    desk.context.close()


def test_f7_a_purchase_missing_from_my_account_joins_it_once_the_orders_address_confirms(
    page: Page,
    browser: Browser,
    server: str,
    make_account: MakeAccount,
    make_order: MakeOrder,
    clock: Clock,
    database: Database,
    keyring: Keyring,
) -> None:
    # Bought with an old address; My Account is under a new one.
    customer = make_account()
    order = make_order(email="old.address@example.com")
    [code] = order.codes

    sign_in(page, customer.email, customer.password)
    expect(page.get_by_role("heading", name="Licenses")).to_be_visible()
    assert code not in page.content()

    page.goto("/support?topic=missing_purchase")
    page.get_by_label("Your name").fill("Mario Rossi")
    page.get_by_label("Order number").fill(order.number)
    page.get_by_label("Message").fill("I bought this with my old address; My Account lacks it.")
    page.get_by_role("button", name="Send the request").click()
    number = page.locator(".request-number").inner_text().strip()

    # The agent's click moves nothing: the order's own address is asked first.
    staff = make_account("agent.f7@example.com", roles=("agent",), totp_secret=TOTP_SECRET)
    desk = new_page(browser, server)
    sign_in_as_staff(desk, staff, clock)
    desk.get_by_label("Search").fill(order.number)
    desk.get_by_role("button", name="Filter").click()
    desk.get_by_role("link", name=number).click()
    expect(desk.get_by_role("heading", name=f"Order {order.number}")).to_be_visible()
    desk.locator("#order_reason").fill("order number and name match; the address changed")
    desk.get_by_role(
        "button", name=f"Attach order {order.number} to the customer's account"
    ).click()
    expect(desk.get_by_role("status")).to_contain_text("Nothing has moved yet")
    expect(desk.locator(".approval-state")).to_have_text("Waiting: nothing has moved")
    page.goto("/account/licenses")
    assert code not in page.content()

    # The order's address opens the mailed link and confirms.
    [mail] = outbox(database, "old.address@example.com", "support_attach_confirm")
    link = link_in_mail(keyring, mail, "/support/confirm/")
    owner = new_page(browser, server)
    owner.goto(link)
    expect(owner.get_by_role("heading", name="Add your order to an account?")).to_be_visible()
    expect(owner.get_by_text(order.number)).to_be_visible()
    assert code not in owner.content()
    owner.get_by_role("button", name=re.compile(r"^Yes, add it to")).click()
    expect(owner.get_by_role("heading", name="Done: it is in that account")).to_be_visible()

    page.goto("/account/licenses")
    expect(page.locator("code.activation-code", has_text=code)).to_be_visible()
    [confirmed] = audit_events(database, "support.attach_confirmed")
    assert confirmed.details["order"] == order.number
    [event] = audit_events(database, "support.order_attached")
    assert event.actor == "owner:old.address@example.com"
    desk.reload()
    expect(desk.locator(".approval-state")).to_have_text(
        "Confirmed by the order's address: attached"
    )
    owner.context.close()
    desk.context.close()
