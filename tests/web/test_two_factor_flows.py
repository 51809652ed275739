"""Two-factor in a real Chromium: a new agent's first sign-in goes through enrolment (the
QR code drawn on the server, the key beside it, one-time recovery codes) before the desk
opens; the page works under the content security policy, with no script of its own."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from licensor.clock import Clock
from tests.accounts.factories import PASSWORD, MakeAccount, two_factor_code


def test_a_new_agent_sets_up_two_factor_at_the_first_sign_in_before_the_desk_opens(
    page: Page, clock: Clock, make_account: MakeAccount
) -> None:
    agent = make_account("first.agent@example.com", roles=("agent",))
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/desk"))
    page.get_by_label("Email address").fill(agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/sign-in/two-factor/enrol\?next=/desk"))
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    qr = page.get_by_role("img", name="QR code for your authenticator app").locator("svg")
    expect(qr).to_be_visible()
    assert qr.bounding_box()["width"] >= 100  # type: ignore[index]
    secret = page.locator("code.secret").inner_text()
    # Nothing else opens meanwhile: the desk sends the half-signed-in agent back here.
    page.goto("/desk")
    expect(page).to_have_url(re.compile(r"/sign-in/two-factor/enrol"))
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("6-digit code").fill(two_factor_code(secret, clock))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = page.locator("ol.recovery-codes code")
    expect(codes).to_have_count(10)
    assert re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", codes.first.inner_text())
    page.get_by_role("link", name="I have saved them: continue").click()

    expect(page).to_have_url(re.compile(r"/desk$"))
    expect(page.get_by_role("heading", name="Support desk")).to_be_visible()
