"""My Account's Security page (issue 14, item 14) in Chromium: the recent sign-ins and the
open sessions, this browser marked; "Sign out everywhere else" signs another browser (a
second context, cookies of its own) out; and a sign-in from that new browser is mailed to
the owner, through the outbox worker to a real SMTP server, while the usual browser's is
not. English and Italian."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, expect

from licensor.db import Database
from tests.accounts.factories import PASSWORD, MakeAccount, outbox
from tests.mail_support import SmtpServer, text_of
from tests.web.conftest import sign_in, sign_in_italian

PHONE_WIDTH = 390


@contextmanager
def other_browser(browser: Browser, server: str, locale: str) -> Iterator[Page]:
    """A second browser: a context of its own, so cookies of its own."""
    context = browser.new_context(base_url=server, locale=locale)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
    finally:
        context.close()


def signed_out(page: Page) -> bool:
    page.goto("/account/licenses")
    return "/sign-in" in page.url


def test_the_security_page_lists_sign_ins_and_sessions_and_signs_the_other_browser_out(
    page: Page,
    browser: Browser,
    server: str,
    database: Database,
    make_account: MakeAccount,
    mail_worker: SmtpServer,
) -> None:
    customer = make_account()
    sign_in(page, customer.email, PASSWORD)
    with other_browser(browser, server, "en-GB") as other:
        sign_in(other, customer.email, PASSWORD)
        mail = mail_worker.inbox.to(customer.email, "New sign-in")
        assert "Someone signed in to your account from a browser" in text_of(mail)
        assert "on Linux" in text_of(mail)
        assert "Where: local network (127.0.0.1)" in text_of(mail)

        page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
        page.goto("/account/licenses")
        page.get_by_role("navigation", name="My Account").get_by_role(
            "link", name="Security"
        ).click()
        expect(page).to_have_url(f"{server}/account/security")
        expect(page.get_by_role("heading", name="Security", level=2)).to_be_visible()
        assert page.evaluate(f"document.documentElement.scrollWidth <= {PHONE_WIDTH}")

        sessions = page.get_by_role("region", name="Open sessions").get_by_role("listitem")
        expect(sessions).to_have_count(2)
        expect(sessions.first).to_contain_text("This browser")
        expect(sessions.nth(1)).not_to_contain_text("This browser")
        for session in (sessions.first, sessions.nth(1)):
            expect(session).to_contain_text("Chrome")
            expect(session).to_contain_text("on Linux")
            expect(session).to_contain_text("Local network (127.0.0.1)")
        sign_ins = page.get_by_role("region", name="Recent sign-ins").get_by_role("listitem")
        expect(sign_ins).to_have_count(2)
        expect(sign_ins.first).to_contain_text("New browser")  # the other, newest first
        expect(sign_ins.nth(1)).not_to_contain_text("New browser")

        page.get_by_role("button", name="Sign out everywhere else").click()

        expect(page).to_have_url(f"{server}/account/security")
        expect(page.get_by_role("status")).to_have_text("1 other session was signed out.")
        expect(sessions).to_have_count(1)
        expect(page.get_by_role("button", name="Sign out everywhere else")).to_have_count(0)
        page.reload()
        expect(page.get_by_role("status")).to_have_count(0)
        assert signed_out(other)
        assert not signed_out(page)

    # The usual browser again: known, so no mail.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, customer.email, PASSWORD)
    expect(page).to_have_url(f"{server}/account/licenses")
    # The mail would be written in the sign-in's own transaction: the outbox tells now.
    assert len(outbox(database, customer.email, "new_sign_in")) == 1


def test_the_security_page_and_the_mail_in_italian(
    italian_page: Page,
    browser: Browser,
    server: str,
    make_account: MakeAccount,
    mail_worker: SmtpServer,
) -> None:
    page = italian_page
    customer = make_account(language="it")
    sign_in_italian(page, customer.email, PASSWORD)
    with other_browser(browser, server, "it-IT") as other:
        sign_in_italian(other, customer.email, PASSWORD)
        mail = mail_worker.inbox.to(customer.email, "Nuovo accesso")
        assert "Da dove: rete locale (127.0.0.1)" in text_of(mail)

        page.goto("/account/security")
        expect(page.get_by_role("heading", name="Sicurezza", level=2)).to_be_visible()
        sessions = page.get_by_role("region", name="Sessioni aperte").get_by_role("listitem")
        expect(sessions).to_have_count(2)
        expect(sessions.first).to_contain_text("Questo browser")
        expect(sessions.first).to_contain_text("su Linux")
        expect(sessions.first).to_contain_text("Rete locale (127.0.0.1)")
        region = page.get_by_role("region", name="Accessi recenti")
        expect(region.get_by_role("listitem").first).to_contain_text("Nuovo browser")

        page.get_by_role("button", name="Chiudi tutte le altre sessioni").click()

        expect(page).to_have_url(f"{server}/account/security")
        expect(page.get_by_role("status")).to_have_text("È stata chiusa 1 altra sessione.")
        assert signed_out(other)
