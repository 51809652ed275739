"""Buying a subscription in the store (F1) as a customer clicks it: real Chromium, the real
server, the built-in test payment provider, mail through a real SMTP server on loopback;
then the app enrolls itself from the file downloaded in My Account, no code typed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.accounts.factories import PASSWORD, MakeAccount
from tests.cli_support import cli_environment, run
from tests.licensing.factories import MakePlan
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import PAYS, card_expiry
from tests.web.conftest import sign_in

CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")
ORDER_NUMBER = re.compile(r"^ORD-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def test_a_signed_in_customer_subscribes_in_the_store_and_the_app_enrolls_from_my_account(
    page: Page,
    mail_worker: SmtpServer,
    make_plan: MakePlan,
    make_account: MakeAccount,
    tmp_path: Path,
) -> None:
    make_plan(
        "premium", term_days=30, devices_max=3, price_cents=5999, subscription_price_cents=999
    )
    customer = make_account()
    sign_in(page, customer.email, PASSWORD)
    expect(page.get_by_role("heading", name="My Account", level=1)).to_be_visible()

    # The store offers the subscription beside the code.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Store").click()
    expect(page.get_by_text("€9.99 as a subscription, renewed every month")).to_be_visible()
    page.get_by_role("link", name="Subscribe to Premium").click()
    offer = page.get_by_role("region", name="Or subscribe")
    expect(offer).to_contain_text("€9.99")
    expect(offer).to_contain_text(customer.email)
    offer.get_by_label("Your name").fill("Carla Verdi")
    offer.get_by_role("button", name="Subscribe").click()

    # The test provider's card page, with the card that pays (and renews).
    expect(page.get_by_text("TEST MODE", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Pay €9.99", level=1)).to_be_visible()
    page.get_by_label("Card number").fill(PAYS)
    page.get_by_label("Expiry date").fill(card_expiry())
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Pay €9.99").click()

    expect(page.get_by_role("heading", name="Thank you for subscribing", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your Premium subscription is active")
    number = page.locator(".order-number").inner_text().strip()
    assert ORDER_NUMBER.match(number), number
    page.get_by_role("link", name="My Account → Subscriptions").click()

    expect(page.get_by_role("heading", name="Subscriptions", level=2)).to_be_visible()
    listed = page.locator(".subscription").filter(has_text="Premium")
    expect(listed).to_contain_text("Next charge")
    expect(listed).to_contain_text("Visa ending in 4242")  # the card the first payment saved
    with page.expect_download() as downloading:
        listed.get_by_role("button", name="Download the app").click()
    enrollment = tmp_path / "licensor-enrollment.json"
    downloading.value.save_as(enrollment)
    assert json.loads(enrollment.read_text())["format"] == "licensor-enrollment/1"

    # The installed licensor-client enrolls from the file alone: server, keys and token.
    environment = cli_environment(tmp_path / "var")
    environment["LICENSOR_FINGERPRINT"] = "subscriber-laptop-0123456789"
    ran = run(
        "licensor-client",
        "--state-dir",
        str(tmp_path / "state"),
        "enroll",
        "--file",
        str(enrollment),
        "--json",
        environment=environment,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    activated = json.loads(ran.stdout)
    assert (activated["plan"], activated["status"], activated["valid"]) == (
        "premium",
        "active",
        True,
    )

    # The confirmation reached the SMTP server: order number, plan, renewal, no code.
    mail = mail_worker.inbox.to(customer.email, number)
    text = text_of(mail)
    assert "Premium" in text
    assert "Renews on:" in text
    assert "/account/subscriptions" in text
    assert CODE.findall(text) == []


def test_a_visitor_is_asked_to_sign_in_to_subscribe_and_comes_back_to_the_plan(
    page: Page, make_plan: MakePlan, make_account: MakeAccount
) -> None:
    make_plan("premium", term_days=30, subscription_price_cents=999)
    customer = make_account()

    page.goto("/store")
    page.get_by_role("link", name="Subscribe to Premium").click()
    expect(page.get_by_role("heading", name="Subscribe to Premium", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Subscribe")).to_have_count(0)
    page.get_by_role("link", name="Sign in to subscribe").click()
    page.get_by_label("Email address").fill(customer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/store/premium$"))
    expect(page.get_by_role("button", name="Subscribe")).to_be_visible()
