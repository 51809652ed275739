"""A vendor's day in the console, in Chromium, end to end: an admin invites an agent,
creates a plan, issues a batch of cards and downloads its CSV, sees a code from it activate
on a device, sees a customer buy the plan in the store and refunds the order (its code is
then refused), watches the dashboard's numbers and charts move, and finds all of it in the
audit log. The worker runs beside the server (issuing the batch, sending the mail to a
real SMTP server on loopback)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect

from licensor.clock import Clock
from tests.accounts.factories import TOTP_SECRET, MakeAccount, fresh_email, two_factor_code
from tests.licensing.factories import activate, device, try_activate
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import PAYS, card_expiry

CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")
BATCH_SIZE = 12


def sign_in_as_admin(page: Page, email: str, password: str, clock: Clock) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name=re.compile("Continue|Sign in|Verify")).click()
    # Staff reach the console from the header on every page.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Console").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()


def dashboard_totals(page: Page) -> str:
    page.goto("/console?days=7")
    return page.locator(".dashboard-totals").inner_text()


def count_in(totals: str, words: str) -> int:
    found = re.search(rf"([\d,]+) {words}", totals)
    assert found, (words, totals)
    return int(found.group(1).replace(",", ""))


def buy_in_the_store(browser: Browser, server: str, plan_name: str, email: str) -> str:
    """A customer buys one code of the plan with the test card; the order number."""
    context = browser.new_context(base_url=server, locale="en-GB")
    buyer = context.new_page()
    buyer.goto("/store")
    buyer.get_by_role("link", name=f"Buy {plan_name}").click()
    buyer.get_by_label("Number of activation codes").fill("1")
    buyer.get_by_label("Your name").fill("Mario Rossi")
    buyer.get_by_label("Email address").fill(email)
    buyer.get_by_role("button", name="Continue to payment").click()
    buyer.get_by_label("Card number").fill(PAYS)
    buyer.get_by_label("Expiry date").fill(card_expiry())
    buyer.get_by_label("Security code (CVC)").fill("123")
    buyer.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(buyer.get_by_role("heading", name="Thank you for your purchase")).to_be_visible()
    number = buyer.locator(".order-number").inner_text().strip()
    context.close()
    return number


def test_a_vendors_day_in_the_console(
    page: Page,
    browser: Browser,
    server: str,
    api: httpx.Client,
    make_account: MakeAccount,
    mail_worker: SmtpServer,
    clock: Clock,
    tmp_path: Path,
) -> None:
    admin = make_account(fresh_email("vendor"), roles=("admin",), totp_secret=TOTP_SECRET)
    sign_in_as_admin(page, admin.email, admin.password, clock)
    before = dashboard_totals(page)
    charts = page.locator("svg.chart[role=img]")
    assert charts.count() >= 5
    expect(charts.first.locator("title")).not_to_be_empty()

    # Invite an agent: the invitation goes by mail.
    agent_email = fresh_email("agent")
    page.goto("/console/staff")
    invite = page.locator('form[action="/console/staff/invite"]')
    invite.get_by_label("Email address").fill(agent_email)
    invite.get_by_label("Role").select_option("agent")
    invite.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_role("status")).to_contain_text("The invitation is on its way")
    invitation = mail_worker.inbox.wait_for(lambda message: message["To"] == agent_email)
    assert "/staff-invitation" in text_of(invitation)

    # Create a plan, sold in the store.
    page.get_by_role("link", name="Plans").click()
    page.get_by_role("link", name="New plan").click()
    page.get_by_label("Plan code").fill("suite")
    page.get_by_label("Name customers see").fill("Security Suite")
    page.get_by_label("Term in days").fill("365")
    page.get_by_label("Device limit").fill("3")
    page.get_by_label("Price of a code").fill("39.99")
    page.get_by_label("Entitlements").fill("vpn\nantivirus")
    page.get_by_role("button", name="Create the plan").click()
    expect(page.get_by_role("heading", name="Plan suite", level=1)).to_be_visible()
    expect(page.get_by_label("Name customers see")).to_have_value("Security Suite")

    # Issue a batch of printed cards; the worker fills it while the page shows progress.
    page.get_by_role("link", name="Code batches").click()
    form = page.locator('form[action="/console/batches"]')
    form.locator('select[name="plan"]').select_option("suite")
    form.locator('input[name="count"]').fill(str(BATCH_SIZE))
    form.locator('input[name="label"]').fill("Retail cards, December")
    form.get_by_role("button", name="Issue codes").click()
    expect(page.locator("#progress-text")).to_have_text(
        f"{BATCH_SIZE} of {BATCH_SIZE} codes issued", timeout=30_000
    )
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the CSV").click()
    saved = tmp_path / "cards.csv"
    download.value.save_as(saved)
    with saved.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    codes = [row["activation_code"] for row in rows]
    assert len(codes) == BATCH_SIZE
    assert all(CODE.fullmatch(code) for code in codes)
    page.reload()
    expect(page.get_by_role("button", name="Download the CSV")).to_have_count(0)

    # A code from the batch activates on a customer's device.
    activated = activate(api, codes[0], device("Home PC"))
    assert activated["plan"] == "suite"

    # A customer buys the plan in the store; the admin refunds the order through the
    # provider, and its code no longer activates.
    buyer_email = fresh_email("buyer")
    number = buy_in_the_store(browser, server, "Security Suite", buyer_email)
    [bought] = CODE.findall(text_of(mail_worker.inbox.to(buyer_email, number)))
    page.get_by_role("link", name="Orders").click()
    page.get_by_label("Email").first.fill(buyer_email)
    page.get_by_role("button", name=re.compile("Filter|Search")).click()
    page.get_by_role("link", name=number).click()
    page.get_by_role("link", name="Refund").click()
    page.get_by_label(re.compile("Reason")).fill("customer changed their mind")
    page.get_by_role("button", name=re.compile(r"^Refund ")).click()
    expect(page.get_by_text(re.compile("Refunded", re.I)).first).to_be_visible()
    refused = try_activate(api, bought)
    assert (refused.status_code, refused.json()["code"]) == (403, "code_blocked")
    refund_mail = mail_worker.inbox.wait_for(
        lambda message: message["To"] == buyer_email and "refunded" in message["Subject"]
    )
    assert number in text_of(refund_mail)

    # The dashboard moved: one activation more (the card), a license more, revenue.
    after = dashboard_totals(page)
    assert count_in(after, "activations? in this range") == (
        count_in(before, "activations? in this range") + 1
    )
    assert count_in(after, "new licenses? in this range") == (
        count_in(before, "new licenses? in this range") + 1
    )
    expect(page.locator("#activations-table tbody tr").last).to_contain_text(re.compile(r"[1-9]"))
    assert page.locator("svg.chart rect.chart-bar").count() >= 1

    # And all of it is in the audit log, under the admin's name.
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Member of staff, by email").fill(admin.email)
    page.get_by_role("button", name="Filter").click()
    log = page.locator("main").inner_text()
    for action in (
        "accounts.staff_invited",
        "plans.created",
        "licensing.batch_issued",
        "licensing.batch_csv_downloaded",
        "store.order_refunded",
    ):
        assert action in log, (action, log)
