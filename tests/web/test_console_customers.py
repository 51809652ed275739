"""The console's Customers section in Chromium, as an admin works it: find a customer, see
the licenses and orders, send the verification mail again (a real SMTP server receives
it), disable the account (the customer then meets the same message as a wrong password),
enable it, download its data as JSON (with the code), erase it (the page shows the
placeholder, sign-in fails, the orders keep their number and amount)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from licensor.accounts.privacy import erased_email
from licensor.clock import Clock
from tests.accounts.factories import TOTP_SECRET, Customer, LinkCode, MakeAccount, two_factor_code
from tests.mail_support import SmtpServer
from tests.store.factories import MakeOrder
from tests.web.accessibility import axe_script, visitor
from tests.web.conftest import sign_in

WRONG_PASSWORD = "The email or password is not correct."


def sign_in_to_console(page: Page, admin: Customer, clock: Clock) -> None:
    page.goto("/console/customers")  # sent to sign in first, then back here
    page.get_by_label("Email address").fill(admin.email)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name=re.compile("Continue|Sign in|Verify")).click()
    expect(page.get_by_role("heading", name="Customers", level=1)).to_be_visible()


def find(page: Page, text: str, email: str) -> None:
    page.goto("/console/customers")
    page.get_by_label("Search").fill(text)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=email).click()
    expect(page.get_by_role("heading", name=email, level=1)).to_be_visible()


def customer_cannot_sign_in(browser: Browser, server: str, customer: Customer) -> None:
    context = browser.new_context(base_url=server, locale="en-GB")
    visitor = context.new_page()
    sign_in(visitor, customer.email, customer.password)
    expect(visitor.get_by_text(WRONG_PASSWORD)).to_be_visible()
    context.close()


def test_an_admin_finds_disables_enables_exports_and_erases_a_customer(
    page: Page,
    browser: Browser,
    server: str,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_order: MakeOrder,
    mail_worker: SmtpServer,
    clock: Clock,
    tmp_path: Path,
) -> None:
    admin = make_account(roles=("admin",), totp_secret=TOTP_SECRET)
    customer = make_account()
    linked = linked_code(customer)
    order = make_order("premium", email=customer.email)  # a priced plan of its own
    unverified = make_account(verified=False)
    sign_in_to_console(page, admin, clock)

    find(page, unverified.email, unverified.email)
    page.get_by_role("button", name="Send the verification mail again").click()
    expect(page.get_by_role("status")).to_contain_text("verification link is on its way")
    mail_worker.inbox.wait_for(lambda message: message["To"] == unverified.email)

    find(page, customer.email[:14], customer.email)
    expect(page.get_by_role("link", name=linked.public_id)).to_be_visible()
    expect(page.get_by_role("link", name=order.number)).to_be_visible()
    assert linked.code not in page.content()  # masked: this page is no disclosure

    page.get_by_label("Reason (for the audit log)").fill("card testing from this account")
    page.get_by_role("button", name="Disable the account").click()
    expect(page.get_by_role("status")).to_contain_text("The account is disabled")
    customer_cannot_sign_in(browser, server, customer)

    page.get_by_role("button", name="Enable the account").click()
    expect(page.get_by_role("status")).to_contain_text("it can sign in again")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export the data (JSON)").click()
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    document = json.loads(saved.read_text())
    assert linked.code in {row["activation_code"] for row in document["licenses"]}

    order_row = page.get_by_role("row", name=re.compile(order.number))
    amount = order_row.get_by_role("cell").nth(2).inner_text()
    assert amount != "€0.00"
    page.get_by_role("link", name="Erase this customer's data…").click()
    page.get_by_label("Type the account's email address to confirm").fill(customer.email)
    page.get_by_label("Reason (for the audit log)").fill("the customer asked, by mail")
    page.get_by_role("button", name="Erase this customer's data").click()
    expect(page.get_by_role("status")).to_contain_text("personal data has been erased")
    expect(page.get_by_role("heading", name=erased_email(customer.id), level=1)).to_be_visible()
    expect(order_row.get_by_role("cell").nth(2)).to_have_text(amount)
    customer_cannot_sign_in(browser, server, customer)


def test_the_customers_pages_pass_axe_at_both_widths(
    browser: Browser,
    server: str,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_order: MakeOrder,
    clock: Clock,
) -> None:
    admin = make_account(roles=("admin",), totp_secret=TOTP_SECRET)
    customer = make_account()
    linked_code(customer)
    make_order("premium", email=customer.email)
    with visitor(browser, server, axe_script()) as audit:
        page = audit.page
        sign_in_to_console(page, admin, clock)
        audit.check("customers")
        find(page, customer.email, customer.email)
        audit.check("customer")
        page.get_by_role("link", name="Erase this customer's data…").click()
        page.get_by_label("Type the account's email address to confirm").fill(
            "someone@else.example"
        )
        page.get_by_label("Reason (for the audit log)").fill("asked")
        page.get_by_role("button", name="Erase this customer's data").click()
        expect(page.get_by_text("exactly as shown above")).to_be_visible()
        audit.check("erase, mistyped email")
        assert [str(violation) for violation in audit.violations] == []
