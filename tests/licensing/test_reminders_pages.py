"""Expiry reminders turned off and on in a real browser: the switch reached from the
license's page in My Account, and the unsubscribe link of a reminder opened without
signing in, in the owner's language (Italian)."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import License
from licensor.worker import build_worker
from tests.accounts.factories import LinkCode, MakeAccount, outbox
from tests.web.conftest import browser, italian_page, page, playwright, sign_in

__all__ = ["browser", "italian_page", "page", "playwright"]  # Chromium, as tests/web has it


def reminders_off(database: Database, public_id: str) -> bool:
    with database.transaction() as session:
        off_at = session.scalar(
            select(License.reminders_off_at).where(License.public_id == public_id)
        )
    return off_at is not None


def test_the_owner_stops_and_restarts_reminders_from_the_license_page(
    page: Page, database: Database, make_account: MakeAccount, linked_code: LinkCode
) -> None:
    customer = make_account()
    linked = linked_code(customer)
    sign_in(page, customer.email, customer.password)

    page.goto(f"/account/licenses/{linked.public_id}")
    page.get_by_role("link", name="Expiry reminders").click()
    expect(page.get_by_role("heading", name="Expiry reminders")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("We email you a few days before")
    page.get_by_role("button", name="Stop expiry reminders").click()
    expect(page.get_by_role("status")).to_have_text("Expiry reminders are off for this license.")
    assert reminders_off(database, linked.public_id)

    page.get_by_role("button", name="Send expiry reminders again").click()
    expect(page.get_by_role("status")).to_have_text("Expiry reminders are on for this license.")
    assert not reminders_off(database, linked.public_id)


def test_the_unsubscribe_link_of_an_italian_reminder_works_without_signing_in(
    italian_page: Page,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    make_account: MakeAccount,
    linked_code: LinkCode,
) -> None:
    customer = make_account(language="it")
    linked = linked_code(customer)
    clock.advance(timedelta(days=365 - 20))
    build_worker(database, keyring, settings, clock.now).run_until_idle()
    [reminder] = outbox(database, customer.email, "expiry_reminder")
    text, _ = bodies(keyring, reminder)
    match = re.search(r"https?://[^/\s]+(/reminders/unsubscribe/\S+)", text)
    assert match, text

    italian_page.goto(match.group(1))
    expect(italian_page.get_by_role("main")).to_contain_text(
        f"Vuoi interrompere le email che ti ricordano la scadenza della licenza {linked.public_id}?"
    )
    assert not reminders_off(database, linked.public_id)  # opening the link only asks
    italian_page.get_by_role("button", name="Interrompi i promemoria di scadenza").click()
    expect(italian_page.get_by_role("status")).to_contain_text(
        f"Fatto: non riceverai più promemoria di scadenza per la licenza {linked.public_id}."
    )
    assert reminders_off(database, linked.public_id)
