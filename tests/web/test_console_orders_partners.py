"""The console's orders and partners in Chromium, as an admin signed in with two-factor:
filter the orders, open one, refund it (its codes answer ``code_blocked``, the buyer's
mail arrives); a second refund, from a tab opened before, changes nothing. Create a
partner, edit it, make an API key (shown once), use it on the partner API, revoke it and
see it refused. axe-core checks each page on the way at 390 and 1280 px."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from licensor.clock import Clock
from licensor.db import Database
from licensor.models import Order
from licensor.store.checkout import CheckoutForm
from licensor.store.testmode import TestProvider
from tests.accounts.factories import TOTP_SECRET, MakeAccount, two_factor_code
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan, device, try_activate
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import Settle, bearer, paid_with
from tests.support import audit_events
from tests.web.accessibility import Audit, axe_script

BUYER = "buyer.console@example.com"


def sign_in_as_admin(page: Page, make_account: MakeAccount, clock: Clock, path: str) -> None:
    page.context.add_init_script(path=axe_script())  # axe in every page (the CSP: no inline)
    admin = make_account(roles=("admin",), totp_secret=TOTP_SECRET)
    page.goto(path)  # sends to sign in, and back here after
    page.get_by_label("Email address").fill(admin.email)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name=re.compile("Continue|Sign in|Verify")).click()


def test_an_admin_filters_the_orders_and_refunds_one_once(
    page: Page,
    browser: Browser,
    server: str,
    api: httpx.Client,
    make_plan: MakePlan,
    make_account: MakeAccount,
    open_unit: OpenUnit,
    provider: TestProvider,
    settle: Settle,
    mail_worker: SmtpServer,
    database: Database,
    clock: Clock,
) -> None:
    make_plan("plus", price_cents=3999)
    with open_unit() as unit:
        payment = unit.checkout.start(
            "plus",
            CheckoutForm("2", "Mario Rossi", BUYER),
            account=None,
            language="en",
            actor="test",
        )
        unit.orders.create(plan_code="plus", email="other@example.com", name="Other Buyer")
    settle(paid_with(provider, payment))
    with open_unit() as unit:
        order = unit.session.scalars(
            select(Order).where(Order.payment_reference == payment.reference)
        ).one()
        number = order.number
        codes = [code for _, code in unit.orders.codes(order)]
    mail_worker.inbox.to(BUYER, number)  # the confirmation went out first

    sign_in_as_admin(page, make_account, clock, "/console/orders")
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=number)).to_be_visible()
    page.get_by_label("Buyer's email").fill(BUYER)
    page.get_by_label("Paid through").select_option("test")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.orders tbody tr")
    expect(rows).to_have_count(1)
    audit = Audit(page, server, axe_script())
    audit.check("orders, filtered")
    rows.get_by_role("link", name=number).click()

    expect(page.get_by_role("heading", name=f"Order {number}")).to_be_visible()
    expect(page.locator("td code")).to_have_count(2)
    assert not any(code in page.content() for code in codes)  # masked
    audit.check("an order")
    page.get_by_role("link", name="Refund this order").click()
    # A second tab holds the same form, as a double click or another admin would.
    late = page.context.new_page()
    late.goto(page.url)
    page.get_by_label("Reason").fill("   ")  # the browser's required check lets spaces by
    page.get_by_role("button", name=re.compile("Refund")).click()
    expect(page.locator("#reason-error")).to_have_text("This field is required.")
    audit.check("the refund, without a reason")
    page.get_by_label("Reason").fill("The customer was charged twice")
    page.get_by_role("button", name=re.compile("Refund")).click()
    expect(page.get_by_role("status")).to_contain_text("The order is refunded")
    expect(page.locator(".order-status")).to_have_text("Refunded")
    expect(page.locator(".code-state")).to_have_text(["Blocked", "Blocked"])
    audit.check("an order refunded")

    for code in codes:
        answer = try_activate(api, code, device())
        assert answer.status_code == 403
        assert answer.json()["code"] == "code_blocked"
    mail = mail_worker.inbox.wait_for(
        lambda m: str(m["To"]) == BUYER and "refund" in text_of(m).lower()
    )
    assert number in text_of(mail)

    late.get_by_label("Reason").fill("A second try")
    late.get_by_role("button", name=re.compile("Refund")).click()
    expect(late.get_by_role("status")).to_contain_text("already refunded")
    assert len(audit_events(database, "store.order_refunded")) == 1
    refund_mails = [m for m in mail_worker.inbox.messages if "refund" in text_of(m).lower()]
    assert len(refund_mails) == 1
    assert not audit.violations + audit.broken, audit.report()


def test_an_admin_creates_and_edits_a_partner_and_makes_and_revokes_a_key(
    page: Page,
    server: str,
    api: httpx.Client,
    make_account: MakeAccount,
    database: Database,
    clock: Clock,
) -> None:
    sign_in_as_admin(page, make_account, clock, "/console/partners")
    page.get_by_role("link", name="Create a partner").click()
    page.get_by_label("Slug").fill("shop-roma")
    page.get_by_label("Name shown to customers").fill("Shop Roma")
    page.get_by_label("Email for customers").fill("help@shop-roma.example")
    page.get_by_label("Website").fill("ftp://shop-roma.example")  # a URL, but not the web
    page.get_by_role("button", name="Create the partner").click()
    expect(page.locator("#url-error")).to_be_visible()
    audit = Audit(page, server, axe_script())
    audit.check("a new partner, its website refused")
    page.get_by_label("Website").fill("https://shop-roma.example")
    page.get_by_role("button", name="Create the partner").click()
    expect(page.get_by_role("heading", name="Shop Roma", level=1)).to_be_visible()

    page.get_by_role("link", name="Edit the details").click()
    page.get_by_label("Name shown to customers").fill("Shop Roma Centro")
    page.get_by_label("Phone (optional)").fill("+39 06 1234567")
    page.get_by_role("button", name="Save the details").click()
    expect(page.get_by_role("heading", name="Shop Roma Centro", level=1)).to_be_visible()
    expect(page.get_by_text("+39 06 1234567")).to_be_visible()
    [edited] = audit_events(database, "store.partner_updated")
    assert edited.actor.startswith("account:")

    page.get_by_label("What the key is for (optional)").fill("web shop")
    with page.expect_response(re.compile(r"/keys$")) as created:
        page.get_by_role("button", name="Create a key").click()
    assert created.value.headers["cache-control"] == "no-store"
    key = page.locator(".new-key").inner_text().strip()
    assert key.startswith("lp_")
    audit.check("a partner with its new key")
    assert key not in page.url
    page.goto("/console/partners/shop-roma")  # the key is not on it again
    assert key not in page.content()

    allocations = api.get("/api/v1/partner/allocations", headers=bearer(key))
    assert allocations.status_code == 200, allocations.text

    prefix = key.removeprefix("lp_").split("_")[0]
    page.get_by_role("link", name=f"Revoke key {prefix}").click()
    audit.check("revoking a key")
    page.get_by_role("button", name="Revoke the key").click()
    expect(page.get_by_role("status")).to_contain_text("The key is revoked")
    refused = api.get("/api/v1/partner/allocations", headers=bearer(key))
    assert refused.status_code == 401
    assert [e.action for e in audit_events(database) if "partner_key" in e.action] == [
        "store.partner_key_created",
        "store.partner_key_revoked",
    ]
    page.goto("/console/partners")
    audit.check("the partners")
    assert not audit.violations + audit.broken, audit.report()
