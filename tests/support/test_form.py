"""The support form and the follow page over HTTP, as a browser without JavaScript posts
them: fields that follow the topic, messages beside the fields, the request and its
confirmation, the follow link (thread, screenshots, reply), CSRF, the rate limit, Italian.

The browser test in ``tests/web/test_support_form.py`` does F6's customer side in Chromium
with the mail through a real SMTP server."""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.mail.outbox import bodies
from licensor.models import (
    AuditEvent,
    Author,
    RequestStatus,
    SupportMessage,
    SupportRequest,
    Topic,
)
from licensor.support.service import WITH_THREAD
from tests.accounts.factories import Browser, MakeAccount, OpenBrowser, fresh_email, outbox
from tests.licensing.factories import MakeCode, activate, device
from tests.limits import StartLimitedServer
from tests.support.uploads import (
    CARD_FORM,
    REQUEST_NUMBER,
    SUPPORT,
    card_request,
    counts,
    field_error,
    follow_link,
    license_details_png,
    picture,
    send,
)

FILE_INPUT = re.compile(
    r'<input id="screenshot" name="screenshot" type="file" '
    r'accept="image/png,image/jpeg,image/webp" multiple'
)


def the_request(database: Database) -> SupportRequest:
    with database.transaction() as session:
        return session.scalars(select(SupportRequest).options(*WITH_THREAD)).one()


# --- the form ---------------------------------------------------------------------------------


def test_the_support_form_is_one_link_from_home_and_has_a_file_field(visitor: Browser) -> None:
    home = visitor.get("/").text
    assert 'href="/support"' in home

    page = visitor.get(SUPPORT)
    assert page.status_code == 200
    assert FILE_INPUT.search(page.text)
    assert 'enctype="multipart/form-data"' in page.text
    for topic in Topic:
        assert f'value="{topic}"' in page.text  # the topic chosen in the same form
        assert f'href="/support?topic={topic}"' in page.text  # or first, on its own page


def test_each_topic_asks_for_its_own_fields(visitor: Browser) -> None:
    card = visitor.get(CARD_FORM).text
    assert FILE_INPUT.search(card)
    assert 'href="/help/license-details"' in card
    assert "Save screenshot" in card
    assert 'name="order_number"' not in card

    missing = visitor.get("/support?topic=missing_purchase").text
    assert re.search(r'name="order_number"[^>]*required', missing)
    assert 'name="subject"' not in missing

    other = visitor.get("/support?topic=other").text
    assert 'name="subject"' in other
    assert re.search(r'<textarea id="message" name="message"[^>]*required', other)
    assert 'name="purchase_date"' not in other


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (card_request("a@example.com", name=""), "name", "This field is required."),
        (card_request("not-an-email"), "email", "Enter an email address like"),
        (
            card_request("a@example.com", purchase_date="31/31/2026"),
            "purchase_date",
            "month/day/year",
        ),
        (card_request("a@example.com", purchase_date="2999-01-01"), "purchase_date", "future"),
        (card_request("a@example.com"), "screenshot", "Attach the screenshot of the License"),
        (
            {"topic": "missing_purchase", "name": "Ada", "email": "a@example.com"},
            "order_number",
            "This field is required.",
        ),
        (
            {"topic": "other", "name": "Ada", "email": "a@example.com", "message": " "},
            "message",
            "This field is required.",
        ),
    ],
)
def test_a_problem_is_shown_beside_its_field_with_the_typed_values_kept(
    visitor: Browser,
    database: Database,
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    response = send(visitor, fields)

    assert response.status_code == 422
    assert message in field_error(response.text, field)
    assert f'id="{field}"' in response.text
    for name in ("name", "email"):
        if fields.get(name) and name != field:
            assert f'value="{html.escape(fields[name])}"' in response.text
    assert counts(database)["support_requests"] == 0


def test_the_all_in_one_form_comes_back_as_it_was_posted(visitor: Browser) -> None:
    response = send(
        visitor,
        {"layout": "all", "topic": "", "name": "Ada", "email": "a@example.com"},
        form_page=SUPPORT,
    )

    assert response.status_code == 422
    assert "Choose what your request is about." in field_error(response.text, "topic")
    assert 'name="layout" value="all"' in response.text


def test_a_card_request_with_the_apps_screenshot_is_stored_and_confirmed(
    visitor: Browser, database: Database, keyring: Keyring, tmp_path: Path
) -> None:
    _, png = license_details_png(tmp_path)
    email = fresh_email("Customer", "Example.com")

    response = send(visitor, card_request(email), [("License details.png", png, "image/png")])

    assert response.status_code == 200, response.text
    number = re.search(r'<strong class="request-number">([^<]+)</strong>', response.text)
    assert number
    assert REQUEST_NUMBER.fullmatch(number.group(1))
    request = the_request(database)
    assert request.number == number.group(1)
    assert request.topic == Topic.RECOVER_CARD_CODE
    assert request.status == RequestStatus.NEW
    assert request.customer_email == email.lower()
    assert request.customer_name == "Mario Rossi"
    assert str(request.purchase_date) == "2026-01-10"
    assert request.account_id is None
    assert [m.body for m in request.messages] == [card_request(email)["message"]]
    assert [a.filename for a in request.attachments] == ["License details.png"]
    assert request.attachments[0].message_id == request.messages[0].id
    assert counts(database)["jobs"] == 1

    [confirmation] = outbox(database, email.lower(), "support_request_received")
    text, _ = bodies(keyring, confirmation)
    assert request.number in confirmation.subject
    assert request.number in text
    link = follow_link(database, keyring, email.lower())
    token = link.rsplit("/", 1)[1]
    assert request.access_token_hash == hashlib.sha256(token.encode()).digest()
    assert token not in response.text  # the link goes to the mailbox only
    with database.transaction() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "support.request_opened")
        ).one()
        assert event.subject_id == request.id


def test_a_code_or_key_the_customer_types_is_not_kept_in_clear(
    visitor: Browser,
    database: Database,
    api: httpx.Client,
    make_code: MakeCode,
    tmp_path: Path,
) -> None:
    # The thread is stored and searched in clear: what the customer types of a code is
    # masked, and a license key becomes its license's public ID, which the desk opens.
    code = make_code()
    activated = activate(api, code, device())
    key = formats.format_license_key(activated["license_key"])
    unknown_key = formats.format_license_key(formats.generate_license_key())
    mistyped = code[:-1] + ("0" if code[-1] != "0" else "1")
    message = (
        f"My code was {code.lower()}, the window says {key}; "
        f"an old one said {unknown_key}. Or was it: {mistyped}?"
    )
    _, png = license_details_png(tmp_path)

    response = send(
        visitor,
        card_request(fresh_email("Customer", "Example.com"), message=message, subject=f"key {key}"),
        [("details.png", png, "image/png")],
    )

    assert response.status_code == 200, response.text
    request = the_request(database)
    [stored] = [m.body for m in request.messages]
    canonical_code = formats.normalize_code(code)
    assert canonical_code.lower() not in stored.lower()
    assert f"[{formats.mask_code(canonical_code)}]" in stored
    assert key not in stored
    assert f"[{activated['public_id']}]" in stored
    assert unknown_key not in stored
    assert formats.mask_license_key(formats.normalize_license_key(unknown_key)) in stored
    assert mistyped in stored  # not a code (its check value fails): left as typed
    assert key not in request.subject


def test_request_numbers_are_not_sequential(visitor: Browser, database: Database) -> None:
    for _ in range(3):
        fields = {
            "topic": "other",
            "name": "Ada",
            "email": fresh_email("Customer", "Example.com"),
            "message": "Hi",
        }
        assert send(visitor, fields, form_page="/support?topic=other").status_code == 200
    with database.transaction() as session:
        numbers = list(session.scalars(select(SupportRequest.number)))
    assert len(set(numbers)) == 3
    assert all(REQUEST_NUMBER.fullmatch(number) for number in numbers)
    assert sorted(numbers) != numbers or sorted(numbers, reverse=True) != numbers


def test_signed_in_the_request_is_the_accounts_and_listed_in_my_account(
    visitor: Browser, database: Database, make_account: MakeAccount
) -> None:
    customer = make_account()
    visitor.sign_in(customer)
    page = visitor.get("/support?topic=recover_online_code").text
    assert f"we answer at {customer.email}" in page
    assert 'name="email"' not in page

    fields = {
        "topic": "recover_online_code",
        "name": "Ada",
        "email": "someone-else@example.com",  # not a field here; ignored
        "order_number": "ORD-7K3M-9QXT",
    }
    response = send(visitor, fields, form_page="/support?topic=recover_online_code")

    assert response.status_code == 200, response.text
    request = the_request(database)
    assert request.customer_email == customer.email
    assert request.account_id == customer.id
    assert request.order_number == "ORD-7K3M-9QXT"
    assert outbox(database, "someone-else@example.com") == []
    listing = visitor.get("/account/requests")
    assert listing.status_code == 200
    assert request.number in listing.text
    assert "Recover an activation code bought online" in listing.text


def test_the_form_without_its_csrf_token_is_refused_and_stores_nothing(
    visitor: Browser, database: Database, tmp_path: Path
) -> None:
    _, png = license_details_png(tmp_path)
    visitor.csrf_token(CARD_FORM)

    response = send(
        visitor,
        card_request(fresh_email("Customer", "Example.com")),
        [("a.png", png, "image/png")],
        token="",
    )

    assert response.status_code == 403
    assert counts(database)["support_requests"] == 0


def test_sending_requests_is_limited_per_address(
    limited_server: StartLimitedServer, form_browser: OpenBrowser, database: Database
) -> None:
    with limited_server(support_rate="2/minute") as limited:
        visitor = form_browser(limited.url)
        fields = {"topic": "other", "name": "Ada", "email": "a@example.com", "message": "Hi"}
        statuses = [
            send(visitor, fields, form_page="/support?topic=other").status_code for _ in range(3)
        ]
        refused = send(visitor, fields, form_page="/support?topic=other")

    assert statuses == [200, 200, 429]
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    assert "Too many requests" in refused.text
    assert counts(database)["support_requests"] == 2


def test_follow_links_are_limited_per_address(
    limited_server: StartLimitedServer, form_browser: OpenBrowser
) -> None:
    with limited_server(follow_rate="3/minute") as limited:
        visitor = form_browser(limited.url)
        guesses = [
            visitor.get(f"/support/requests/{secrets.token_urlsafe(32)}").status_code,
            visitor.get(f"/support/requests/{secrets.token_urlsafe(32)}/attachments/1").status_code,
            visitor.get(f"/support/requests/{secrets.token_urlsafe(32)}").status_code,
        ]
        refused = visitor.get(f"/support/requests/{secrets.token_urlsafe(32)}")

    assert guesses == [404, 404, 404]
    assert refused.status_code == 429
    assert refused.headers["retry-after"]


def test_the_form_in_italian(visitor: Browser) -> None:
    page = visitor.get("/support?lang=it").text
    assert '<html lang="it">' in page
    assert "Contatta il supporto" in page
    assert "Recuperare un codice di attivazione da una scheda stampata" in page
    card = visitor.get(CARD_FORM).text  # the language cookie holds
    assert "Salva screenshot" in card or "Save screenshot" in card
    assert "Invia la richiesta" in card


# --- following the request --------------------------------------------------------------------


def open_request(visitor: Browser, database: Database, keyring: Keyring, tmp_path: Path) -> str:
    _, png = license_details_png(tmp_path)
    email = fresh_email("Customer", "Example.com")
    response = send(visitor, card_request(email), [("details.png", png, "image/png")])
    assert response.status_code == 200, response.text
    return follow_link(database, keyring, email.lower())


def test_the_follow_link_shows_the_thread_but_never_internal_notes(
    visitor: Browser, database: Database, keyring: Keyring, tmp_path: Path
) -> None:
    link = open_request(visitor, database, keyring, tmp_path)
    request = the_request(database)
    with database.transaction() as session:
        for author, internal, body in (
            (Author.AGENT, True, "NOTE: check the partner's records"),
            (Author.AGENT, False, "We have found your license."),
        ):
            session.add(
                SupportMessage(
                    request_id=request.id,
                    author=author,
                    internal=internal,
                    body=body,
                    created_at=request.created_at,
                )
            )

    page = visitor.get(link)

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert request.number in page.text
    assert "Received" in page.text
    assert "I lost the card" in page.text
    assert "We have found your license." in page.text
    assert "NOTE: check" not in page.text
    assert "details.png" in page.text


def test_a_screenshot_is_shown_only_as_a_png_through_the_link(
    visitor: Browser, database: Database, keyring: Keyring, tmp_path: Path
) -> None:
    link = open_request(visitor, database, keyring, tmp_path)
    attachment_id = the_request(database).attachments[0].id

    image = visitor.get(f"{link}/attachments/{attachment_id}")

    assert image.status_code == 200
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"] == "inline"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in image.headers["content-security-policy"]
    assert visitor.get(f"{link}/attachments/{attachment_id + 1}").status_code == 404
    assert visitor.get(f"/support/requests/forged/attachments/{attachment_id}").status_code == 404


def test_unknown_and_forged_links_get_one_plain_not_found(visitor: Browser) -> None:
    pages = [
        visitor.get(f"/support/requests/{token}")
        for token in (secrets.token_urlsafe(32), "x", "A" * 300)
    ]
    assert {page.status_code for page in pages} == {404}
    assert len({page.text for page in pages}) == 1
    assert "This support request link is not valid" in pages[0].text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (RequestStatus.NEW, RequestStatus.NEW),
        (RequestStatus.WAITING, RequestStatus.OPEN),
        (RequestStatus.SOLVED, RequestStatus.OPEN),
    ],
)
def test_a_reply_joins_the_thread_and_reopens_a_waiting_or_solved_request(
    visitor: Browser,
    database: Database,
    keyring: Keyring,
    tmp_path: Path,
    before: str,
    after: str,
) -> None:
    link = open_request(visitor, database, keyring, tmp_path)
    with database.transaction() as session:
        request = session.scalars(select(SupportRequest)).one()
        request.status = RequestStatus(before)
        request.solved_at = request.created_at if before == RequestStatus.SOLVED else None

    response = send(
        visitor,
        {"message": "Here is another screenshot."},
        [("second.jpg", picture("JPEG"), "image/jpeg")],
        path=link,
        form_page=link,
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"{link}?sent=1#reply"
    request = the_request(database)
    assert request.status == after
    assert request.solved_at is None
    assert [m.body for m in request.messages][-1] == "Here is another screenshot."
    assert [a.filename for a in request.attachments] == ["details.png", "second.jpg"]
    assert counts(database)["jobs"] == 2
    page = visitor.get(f"{link}?sent=1").text
    assert "Your answer has been added to the request." in page
    assert "Here is another screenshot." in page


def test_a_reply_with_a_bad_file_is_refused_beside_the_field(
    visitor: Browser, database: Database, keyring: Keyring, tmp_path: Path
) -> None:
    link = open_request(visitor, database, keyring, tmp_path)

    response = send(
        visitor,
        {"message": "Typed text stays."},
        [("fake.png", b"<html>", "image/png")],
        path=link,
        form_page=link,
    )

    assert response.status_code == 422
    assert "not a PNG, JPEG or WebP image" in field_error(response.text, "screenshot")
    assert "Typed text stays." in response.text
    assert len(the_request(database).messages) == 1


def test_a_reply_through_a_forged_link_is_not_found(visitor: Browser) -> None:
    token = visitor.csrf_token(SUPPORT)
    response = send(
        visitor,
        {"message": "hello"},
        path=f"/support/requests/{secrets.token_urlsafe(32)}",
        token=token,
    )
    assert response.status_code == 404
