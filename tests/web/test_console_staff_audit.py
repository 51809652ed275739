"""The console's staff and audit log in Chromium: an admin invites an agent; the mail
reaches a real SMTP server on loopback; the agent opens the link in a browser of its own,
chooses a password, is made to set up two-factor, lands in the console and sees only the
agents' sections; the admin removes the agent, whose session ends; the audit log filters
by member, action and dates typed as the page's language writes them, and its CSV
downloads with those rows. axe-core checks each of these pages at 390 and 1280 px."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from playwright.sync_api import Browser, Page, expect

from licensor.clock import Clock
from licensor.console.sections import visible
from tests.accounts.factories import TOTP_SECRET, Customer, MakeAccount, two_factor_code
from tests.mail_support import SmtpServer, text_of
from tests.web.accessibility import Audit, axe_script, visitor

NEWCOMER = "new.agent@example.com"
NEW_PASSWORD = "a long enough staff password"


def _sign_in_as_admin(page: Page, admin: Customer, clock: Clock) -> None:
    page.goto("/console/staff")
    page.get_by_label("Email address").fill(admin.email)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name=re.compile("Continue|Sign in|Verify")).click()
    expect(page.get_by_role("heading", name="Staff", level=1)).to_be_visible()


def _passes(audit: Audit) -> None:
    assert not audit.violations + audit.broken, audit.report()


def test_an_admin_invites_an_agent_who_enrols_and_is_removed_and_the_audit_log_shows_it(
    browser: Browser,
    server: str,
    make_account: MakeAccount,
    mail_worker: SmtpServer,
    clock: Clock,
) -> None:
    admin = make_account("owner@example.com", roles=("admin",), totp_secret=TOTP_SECRET)
    with (
        visitor(browser, server, axe_script()) as boss,
        visitor(browser, server, axe_script()) as newcomer,
    ):
        page = boss.page
        _sign_in_as_admin(page, admin, clock)
        page.get_by_label("Email address").fill("not an address")
        page.get_by_role("button", name="Send the invitation").click()
        expect(page.locator("#email-error")).to_be_visible()
        boss.check("/console/staff (invitation refused)")
        page.get_by_label("Email address").fill(NEWCOMER)
        page.get_by_label("Role").select_option("agent")
        page.get_by_role("button", name="Send the invitation").click()
        expect(page.locator(".alert.notice")).to_have_text("The invitation is on its way.")
        expect(page.locator("table.invitations")).to_contain_text(NEWCOMER)
        boss.check("/console/staff")

        # The mail: who invites, as what, until when; the link.
        mail = mail_worker.inbox.to(NEWCOMER, "invited")
        text = text_of(mail)
        assert "owner@example.com, an admin" in text
        assert "as a support agent" in text
        assert "7 days" in text
        link = re.search(r"https?://\S+/staff-invitation\?token=\S+", text)
        assert link, text

        agent = newcomer.page
        agent.goto(link.group(0))
        expect(agent.get_by_role("heading", name="Join the staff")).to_be_visible()
        newcomer.check("/staff-invitation")
        agent.get_by_label("Choose a password").fill(NEW_PASSWORD)
        agent.get_by_role("button", name="Accept the invitation").click()
        expect(agent).to_have_url(re.compile(r"/sign-in/two-factor/enrol"))
        agent.goto("/console/codes")  # nothing opens before two-factor
        expect(agent).to_have_url(re.compile(r"/sign-in/two-factor/enrol"))
        secret = agent.locator("code.secret").inner_text()
        agent.get_by_label("6-digit code").fill(two_factor_code(secret, clock))
        agent.get_by_role("button", name="Turn on two-factor sign-in").click()
        agent.get_by_role("link", name="I have saved them: continue").click()
        expect(agent).to_have_url(re.compile(r"/console"))
        menu = agent.get_by_role("navigation", name="Console").get_by_role("link")
        expect(menu).to_have_text([section.label for section in visible(False)])
        refused = agent.goto("/console/staff")
        assert refused is not None
        assert refused.status == 403
        agent.goto(link.group(0))  # used: says so, and nothing more
        expect(
            agent.get_by_role("heading", name="This invitation has expired or was already used")
        ).to_be_visible()
        newcomer.check("/staff-invitation (used)")

        # The admin sees the agent enrolled, and removes them: their session ends.
        page.reload()
        row = page.locator("table.staff tr", has_text=NEWCOMER)
        expect(row).to_contain_text("Enrolled")
        row.get_by_role("button", name=re.compile("^Remove")).click()
        expect(page.locator(".alert.notice")).to_contain_text("every session of the account ended")
        expect(page.locator("table.staff")).not_to_contain_text(NEWCOMER)
        agent.goto("/console/codes")
        expect(agent).to_have_url(re.compile(r"/sign-in\?next="))

        # The audit log: by member of staff, by action, by dates typed in English.
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
        boss.check("/console/audit")
        page.get_by_label("Member of staff, by email").fill(NEWCOMER)
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("table.audit-log")).to_contain_text("accounts.staff_joined")
        page.get_by_label("Member of staff, by email").fill("")
        page.get_by_label("Action").select_option("accounts.staff_removed")
        today = clock.now().date()
        page.get_by_label("Start date").fill(f"{today:%m/%d/%Y}")
        page.get_by_label("End date").fill(f"{today:%m/%d/%Y}")
        page.get_by_role("button", name="Filter").click()
        rows = page.locator("table.audit-log tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("owner@example.com")
        expect(rows.first.get_by_role("link")).to_have_attribute(
            "href", re.compile(r"/console/customers/\d+")
        )
        tomorrow = today + timedelta(days=1)
        page.get_by_label("Start date").fill(f"{tomorrow:%m/%d/%Y}")
        page.get_by_label("End date").fill("")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_text("No event matches.")).to_be_visible()
        page.get_by_label("Start date").fill(f"{today:%m/%d/%Y}")
        page.get_by_role("button", name="Filter").click()
        page.get_by_label("Start date").fill("the 40th")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("#since-error")).to_be_visible()
        boss.check("/console/audit (a date refused)")
        page.get_by_label("Start date").fill(f"{today:%m/%d/%Y}")
        page.get_by_role("button", name="Filter").click()

        with page.expect_download() as download:
            page.get_by_role("button", name="Export CSV").click()
        path = download.value.path()
        rows_read = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        assert rows_read[0][:5] == ["id", "occurred_at", "actor", "actor_email", "action"]
        assert [row[4] for row in rows_read[1:]] == ["accounts.staff_removed"]
        assert rows_read[1][3] == "owner@example.com"
        _passes(boss)
        _passes(newcomer)
