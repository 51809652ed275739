"""The console's Codes and licenses section in Chromium: an admin searches a code by each
kind of identifier, opens its license, extends the term, releases a seat, blocks and
unblocks the code, each with a reason, and the app's validation answers follow; an agent
sees no unblock or extend button. Every page checked by axe-core on the way."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, expect

from licensor.clock import Clock
from tests.accounts.factories import TOTP_SECRET, Customer, MakeAccount, two_factor_code
from tests.licensing.factories import activate, device, validate
from tests.store.factories import MakeOrder
from tests.web.accessibility import axe_script, visitor


def sign_in_to_console(page: Page, staff: Customer, clock: Clock) -> None:
    page.goto("/console/codes")  # sent to sign in first, then back here
    page.get_by_label("Email address").fill(staff.email)
    page.get_by_label("Password").fill(staff.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name=re.compile("Continue|Sign in|Verify")).click()
    expect(page.get_by_role("heading", name="Codes and licenses", level=1)).to_be_visible()


def search(page: Page, text: str) -> None:
    page.goto("/console/codes")
    page.get_by_label(re.compile("^Activation code, license key")).fill(text)
    page.locator("main").get_by_role("button", name="Search").click()
    expect(page.get_by_role("table")).to_be_visible()


def test_an_admin_finds_a_code_extends_releases_blocks_and_unblocks_it(
    browser: Browser,
    server: str,
    api: httpx.Client,
    make_account: MakeAccount,
    make_order: MakeOrder,
    clock: Clock,
) -> None:
    order = make_order("plus")
    code = order.codes[0]
    home, office = device("Home PC"), device("Office PC")
    first = activate(api, code, home)
    activate(api, code, office)
    key, public_id = first["license_key"], first["public_id"]
    admin = make_account(roles=("admin",), totp_secret=TOTP_SECRET)

    with visitor(browser, server, axe_script()) as audit:
        page = audit.page
        sign_in_to_console(page, admin, clock)
        for text in (code.lower(), key, public_id, order.email, order.number):
            search(page, text)
            expect(page.get_by_role("link", name=public_id)).to_be_visible()
        assert code not in page.content()
        audit.check("search")

        page.get_by_role("link", name=public_id).click()
        expect(page.get_by_role("heading", name=f"License {public_id}", level=1)).to_be_visible()
        audit.check("license")
        ends_before = validate(api, key, home["fingerprint"])["expires_at"]
        page.get_by_label("Why the term is extended (for the audit log)").fill("outage")
        page.get_by_role("button", name="Extend the term").click()  # no days, no date
        expect(page.get_by_text("Give either a number of days or a new end date.")).to_be_visible()
        audit.check("license, extend refused")
        page.get_by_label("Days to add").fill("30")
        page.get_by_label("Why the term is extended (for the audit log)").fill("outage in May")
        page.get_by_role("button", name="Extend the term").click()
        expect(page.get_by_role("status")).to_have_text(re.compile("The term is extended"))
        assert validate(api, key, home["fingerprint"])["expires_at"] > ends_before

        page.get_by_label("Why the seat on Home PC is released").fill("sold the old PC")
        page.get_by_role("button", name="Release the seat on Home PC").click()
        expect(page.get_by_role("status")).to_have_text(re.compile("The seats were released"))
        assert validate(api, key, home["fingerprint"])["status"] == "released"
        assert validate(api, key, office["fingerprint"])["valid"] is True
        expect(page.get_by_role("cell", name="sold the old PC")).to_be_visible()  # history

        page.get_by_role("link", name="open the code's page").click()
        audit.check("code")
        page.get_by_label("Why the code is blocked (for the audit log)").fill("leaked")
        page.get_by_label("Block it: its devices stop working at their next check").check()
        page.get_by_role("button", name="Block the code").click()
        expect(page.get_by_role("status")).to_have_text(re.compile("The code is blocked"))
        assert validate(api, key, office["fingerprint"])["status"] == "blocked"
        audit.check("code, blocked")

        page.get_by_label("Why the code is unblocked (for the audit log)").fill("false alarm")
        page.get_by_role("button", name="Unblock the code").click()
        expect(page.get_by_role("status")).to_have_text(re.compile("The code is unblocked"))
        assert validate(api, key, office["fingerprint"])["valid"] is True
        expect(page.get_by_role("cell", name="false alarm")).to_be_visible()
        assert [str(violation) for violation in audit.violations] == []


def test_an_agent_sees_no_unblock_or_extend(
    page: Page,
    api: httpx.Client,
    make_account: MakeAccount,
    make_order: MakeOrder,
    clock: Clock,
) -> None:
    code = make_order("plus").codes[0]
    public_id = activate(api, code, device())["public_id"]
    agent = make_account(roles=("agent",), totp_secret=TOTP_SECRET)

    sign_in_to_console(page, agent, clock)
    page.goto(f"/console/licenses/{public_id}")

    expect(page.get_by_text("Only an admin can extend a term.")).to_be_visible()
    expect(page.get_by_role("button", name="Extend the term")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Release the seat"))).to_have_count(1)
    page.get_by_role("link", name="open the code's page").click()
    page.get_by_label("Why the code is blocked (for the audit log)").fill("chargeback")
    page.get_by_label("Block it: its devices stop working at their next check").check()
    page.get_by_role("button", name="Block the code").click()
    expect(page.get_by_text("Only an admin can unblock a code.")).to_be_visible()
    expect(page.get_by_role("button", name="Unblock the code")).to_have_count(0)
