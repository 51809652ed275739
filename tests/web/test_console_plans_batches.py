"""Plans and code batches in Chromium, as an admin works them (issue 15): create a plan and
edit it, issue a small batch and watch its progress reach the end while the worker runs,
download the printer's CSV (once: the second try is refused, naming who had it), see a code
from it activate through the API, block the batch and see activation refused. Every page on
the way passes axe-core at both widths; a browser without JavaScript sees the batch's page
refresh itself."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, expect

from licensor.clock import Clock
from tests.accounts.factories import TOTP_SECRET, Customer, MakeAccount, two_factor_code
from tests.licensing.factories import device, try_activate
from tests.web.accessibility import axe_script, visitor


def sign_in_to_console(page: Page, admin: Customer, clock: Clock) -> None:
    page.goto("/console/plans")  # sent to sign in first, then back here
    page.get_by_label("Email address").fill(admin.email)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name=re.compile("Continue|Sign in|Verify")).click()
    expect(page.get_by_role("heading", name="Plans", level=1)).to_be_visible()


def issue_batch(page: Page, plan: str, count: int) -> None:
    page.goto("/console/batches")
    page.get_by_label("Plan", exact=True).select_option(plan)
    page.get_by_label("Number of codes").fill(str(count))
    page.get_by_label("Label").fill("Window display")
    page.get_by_role("button", name="Issue codes").click()
    expect(page.get_by_role("status")).to_contain_text("The batch is being issued")


def test_an_admin_makes_a_plan_issues_a_batch_downloads_it_once_and_blocks_it(
    browser: Browser,
    server: str,
    api: httpx.Client,
    make_account: MakeAccount,
    run_jobs: Callable[[], None],
    clock: Clock,
    tmp_path: Path,
) -> None:
    admin = make_account(roles=("admin",), totp_secret=TOTP_SECRET)
    with visitor(browser, server, axe_script()) as audit:
        page = audit.page
        sign_in_to_console(page, admin, clock)
        page.get_by_role("link", name="New plan").click()
        page.get_by_label("Plan code").fill("family")
        page.get_by_label("Name customers see").fill("Family")
        page.get_by_label("Term in days").fill("365")
        page.get_by_label("Device limit").fill("5")
        page.get_by_label("Price of a code").fill("forty")
        page.get_by_label("Entitlements").fill("VPN, password-manager")
        page.get_by_role("button", name="Create the plan").click()
        expect(page.get_by_text("Enter a price like 29.99, or leave it empty.")).to_be_visible()
        audit.check("new plan, a bad price")
        page.get_by_label("Price of a code").fill("49.90")
        page.get_by_role("button", name="Create the plan").click()
        expect(page.get_by_role("status")).to_have_text("The plan is created.")
        expect(page.get_by_label("Entitlements")).to_have_value("password-manager\nvpn")
        audit.check("plan")

        page.get_by_label("Device limit").fill("6")
        page.get_by_role("button", name="Save the plan").click()
        expect(page.get_by_role("status")).to_have_text("The plan is saved.")
        page.get_by_role("link", name="Plans", exact=True).click()
        row = page.get_by_role("row").filter(has_text="family")
        expect(row.get_by_role("cell").nth(3)).to_have_text("6")
        expect(row).to_contain_text("Listed")
        audit.check("plans")
        page.goto("/console/plans/family/retire")
        audit.check("retire, confirmation")

        issue_batch(page, "family", 7)
        expect(page.locator("progress")).to_have_attribute("max", "7")
        audit.check("batch, being issued")
        run_jobs()
        # The page's script polls the status and reloads once the batch is whole.
        expect(page.get_by_text("7 of 7 codes issued")).to_be_visible()
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download the CSV").click()
        saved = tmp_path / "batch.csv"
        download_info.value.save_as(saved)
        with saved.open(newline="") as handle:
            codes = [line["activation_code"] for line in csv.DictReader(handle)]
        assert len(set(codes)) == 7

        page.get_by_role("button", name="Download the CSV").click()  # a page still open
        expect(page.get_by_role("heading", level=1)).to_contain_text("was already downloaded")
        expect(page.get_by_role("alert")).to_contain_text(f"account:{admin.id} downloaded it")
        audit.check("CSV already downloaded")

        activated = try_activate(api, codes[0], device("Shop PC"))
        assert activated.status_code == 201, activated.text
        page.get_by_role("link", name="Back to the batch").click()
        page.get_by_role("link", name="Block this batch…").click()
        page.get_by_role("button", name="Block the batch").click()
        expect(page.get_by_text("Say why.")).to_be_visible()
        audit.check("block, no reason")
        page.get_by_label("Reason").fill("Sold on the grey market")
        page.get_by_role("button", name="Block the batch").click()
        expect(page.get_by_role("status")).to_contain_text("The batch is blocked")
        audit.check("batch, blocked")
        page.get_by_role("link", name="Code batches").click()
        audit.check("batches")
        assert [str(violation) for violation in audit.violations] == []

    refused = try_activate(api, codes[1])
    assert (refused.status_code, refused.json()["code"]) == (403, "code_blocked")


def test_without_javascript_the_batch_page_refreshes_itself_until_the_batch_is_whole(
    browser: Browser,
    server: str,
    make_account: MakeAccount,
    make_plan: Callable[..., str],
    run_jobs: Callable[[], None],
    clock: Clock,
) -> None:
    admin = make_account(roles=("admin",), totp_secret=TOTP_SECRET)
    make_plan("plus")
    context = browser.new_context(base_url=server, locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in_to_console(page, admin, clock)
        issue_batch(page, "plus", 3)
        expect(page.get_by_text("0 of 3 codes issued")).to_be_visible()
        run_jobs()
        expect(page.get_by_text("3 of 3 codes issued")).to_be_visible()
        expect(page.get_by_role("button", name="Download the CSV")).to_be_visible()
    finally:
        context.close()
