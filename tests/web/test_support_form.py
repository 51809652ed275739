"""F6, the customer's side, as a customer clicks it in a real Chromium: from the home page
to the support form, the reference app's screenshot attached, the confirmation with the
request number and follow link through a real SMTP server on loopback, the follow page
and a reply; the license key read from the screenshot by the worker."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import Attachment, OcrStatus, RequestStatus, SupportRequest
from licensor.support.attachments import OcrReading, ocr_reading
from licensor.support.service import WITH_THREAD
from tests.accounts.factories import fresh_email
from tests.mail_support import SmtpServer, text_of
from tests.support.uploads import FOLLOW_LINK, REQUEST_NUMBER, license_details_png


def reading_of_the_screenshot(database: Database, keyring: Keyring) -> OcrReading:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with database.transaction() as session:
            attachment = session.scalars(select(Attachment)).one()
        if attachment.ocr_status != OcrStatus.PENDING:
            assert attachment.ocr_status == OcrStatus.DONE, attachment.ocr_error
            reading = ocr_reading(keyring, attachment)
            assert reading is not None
            return reading
        time.sleep(0.2)
    raise TimeoutError("the worker did not read the screenshot")


def open_card_form_from_home(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="Still stuck? Contact support").click()
    expect(page.get_by_role("heading", name="Contact support", level=1)).to_be_visible()
    page.get_by_role("link", name="Recover an activation code from a printed card").click()
    expect(
        page.get_by_role("heading", name="Recover an activation code from a printed card")
    ).to_be_visible()


def test_a_customer_sends_the_apps_screenshot_follows_the_request_and_replies(
    page: Page,
    mail_worker: SmtpServer,
    database: Database,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    key, png = license_details_png(tmp_path)
    screenshot = tmp_path / "license-details.png"
    assert screenshot.read_bytes() == png
    email = fresh_email("card-owner")

    open_card_form_from_home(page)
    expect(page.get_by_role("link", name="How to find the License details window")).to_be_visible()
    page.get_by_label("Your name").fill("Mario Rossi")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Purchase date").fill("2026-01-10")
    page.get_by_label("Message").fill("I lost the printed card.")
    page.get_by_label("Screenshots").set_input_files(screenshot)
    page.get_by_role("button", name="Send the request").click()

    expect(page.get_by_role("heading", name="Request received", level=1)).to_be_visible()
    number = page.locator(".request-number").inner_text().strip()
    assert REQUEST_NUMBER.fullmatch(number), number
    expect(page.get_by_text(f"We have sent it to {email}")).to_be_visible()

    mail = mail_worker.inbox.to(email, number)
    text = text_of(mail)
    assert number in text
    link = FOLLOW_LINK.search(text)
    assert link, text

    reading = reading_of_the_screenshot(database, keyring)
    assert reading.license_key == key
    assert reading.verified

    page.goto(link.group(1))
    expect(page.get_by_role("heading", name=f"Support request {number}")).to_be_visible()
    expect(page.locator(".request-status")).to_have_text("Received")
    expect(page.get_by_text("I lost the printed card.")).to_be_visible()
    expect(page.get_by_role("link", name="license-details.png")).to_be_visible()

    page.get_by_label("Your answer").fill("The card was a Plus, bought in January.")
    page.get_by_role("button", name="Send the answer").click()
    expect(page.get_by_role("status")).to_contain_text("Your answer has been added")
    expect(page.get_by_text("The card was a Plus, bought in January.")).to_be_visible()
    with database.transaction() as session:
        request = session.scalars(select(SupportRequest).options(*WITH_THREAD)).one()
        assert request.number == number
        assert request.status == RequestStatus.NEW
        assert len(request.messages) == 2


def test_a_card_request_without_its_screenshot_says_so_beside_the_file_field(
    page: Page, database: Database
) -> None:
    open_card_form_from_home(page)
    page.get_by_label("Your name").fill("Anna Bianchi")
    page.get_by_label("Email address").fill(fresh_email("card-owner"))
    page.get_by_role("button", name="Send the request").click()

    files = page.get_by_label("Screenshots")
    expect(files).to_have_attribute("aria-invalid", "true")
    expect(files).to_have_accessible_description(
        re.compile("Attach the screenshot of the License details window")
    )
    expect(files).to_have_accessible_description(re.compile("choose them again"))
    expect(page.get_by_label("Your name")).to_have_value("Anna Bianchi")
    with database.transaction() as session:
        assert session.scalars(select(SupportRequest)).all() == []


def test_the_support_form_in_italian(page: Page) -> None:
    page.goto("/support?lang=it")
    expect(page.get_by_role("heading", name="Contatta il supporto", level=1)).to_be_visible()
    card = "Recuperare un codice di attivazione da una scheda stampata"
    page.get_by_role("link", name=card).click()
    expect(page.get_by_label("Il tuo nome")).to_be_visible()
    expect(page.get_by_label("Screenshot", exact=True)).to_have_attribute("type", "file")
    expect(page.get_by_role("button", name="Invia la richiesta")).to_be_visible()
