"""The agent desk over HTTP, as a browser without JavaScript uses it: who may open it, the
queue, one lookup across five identifiers, and each action from a request — sending a
code only to an email of record, attaching an order or a code (F7: at once only when it is
the account's own, else confirmed by the order's address or a second staff member),
releasing seats, blocking and replacing a code, replies and internal notes (which refuse
any spelling of a code or key that activates) — each audited and its owner told."""

from __future__ import annotations

import hashlib
import html
import itertools
import re
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from licensor import jobs
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import (
    ActivationCode,
    AttachApproval,
    OutboxMessage,
    SupportMessage,
    SupportRequest,
    Topic,
)
from tests.accounts.factories import (
    TOTP_SECRET,
    Browser,
    LinkCode,
    MakeAccount,
    OpenBrowser,
    fresh_email,
    link,
    link_in_mail,
    outbox,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, activate, activation, device
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import MakeOrder
from tests.support import audit_events
from tests.support.factories import (
    MakeRequest,
    Reading,
    SignInStaff,
    png_bytes,
)

CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")


CodeId = Callable[[str], int]


@pytest.fixture
def code_id(open_unit: OpenUnit) -> CodeId:
    """A code's row id, by which the desk's pages and forms name it."""

    def find(code: str) -> int:
        with open_unit() as unit:
            return unit.codes.find_code(code).id

    return find


def request_row(database: Database, number: str) -> SupportRequest:
    with database.transaction() as session:
        row = session.scalars(select(SupportRequest).where(SupportRequest.number == number)).one()
        session.expunge(row)
        return row


def all_mail_text(database: Database, keyring: Keyring) -> list[tuple[str, str]]:
    with database.transaction() as session:
        return [
            (message.recipient, message.subject + "\n" + "\n".join(bodies(keyring, message)))
            for message in session.scalars(select(OutboxMessage))
        ]


# --- who may open the desk --------------------------------------------------------------------


def test_only_staff_with_two_factor_open_the_desk(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
) -> None:
    request = make_request(screenshot=png_bytes())
    paths = ["/desk", f"/desk/requests/{request.number}", "/desk/lookup?q=x"]

    anonymous = form_browser()
    for path in paths:
        answer = anonymous.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/sign-in?next=")

    customer = form_browser()
    customer.sign_in(make_account())
    for path in paths:
        assert customer.get(path).status_code == 403

    # An agent's password alone never reaches the desk: two-factor is set up first.
    without_two_factor = form_browser()
    without_two_factor.sign_in(make_account(roles=("agent",)))
    for path in paths:
        answer = without_two_factor.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/sign-in/two-factor")

    # A staff member half-way through sign-in (password, no code yet) is not signed in.
    half = form_browser()
    half.sign_in(make_account(roles=("agent",), totp_secret=TOTP_SECRET))
    assert half.get("/desk").status_code == 303

    for role in ("agent", "admin"):
        staff, _ = sign_in_staff(role)
        page = staff.get("/desk")
        assert page.status_code == 200
        assert request.number in page.text
        assert 'href="/desk"' in staff.get("/").text

    # The home page leads everyone to the desk (staff sign in there).
    assert 'href="/desk"' in anonymous.get("/").text


def test_the_screenshot_is_served_only_to_staff_as_a_png_never_sniffed_or_cached(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
) -> None:
    picture = png_bytes(64, 32)
    request = make_request(screenshot=picture)
    agent, _ = sign_in_staff()
    page = agent.get(f"/desk/requests/{request.number}")
    [path] = re.findall(r'src="(/desk/attachments/\d+)"', page.text)
    image = agent.get(path)
    assert image.status_code == 200
    assert image.content == picture
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert image.headers["cache-control"] == "no-store"
    assert "reading…" in page.text  # OCR has not run yet

    customer = form_browser()
    customer.sign_in(make_account())
    assert customer.get(path).status_code == 403
    assert form_browser().get(path).status_code == 303


# --- the queue --------------------------------------------------------------------------------


def test_the_queue_filters_searches_counts_and_opening_a_new_request_makes_it_open(
    make_request: MakeRequest, sign_in_staff: SignInStaff, database: Database
) -> None:
    card = make_request(email="lost.card@example.com", name="Giulia Bianchi")
    missing = make_request(
        topic=Topic.MISSING_PURCHASE,
        order_number="ORD-7K3M-9QXT",
        message="My purchase is not in My Account",
    )
    other = make_request(topic=Topic.OTHER, message="The window flickers on start")
    agent, staff = sign_in_staff()

    def numbers(query: str) -> set[str]:
        page = agent.get("/desk" + query)
        assert page.status_code == 200
        return set(re.findall(r'href="/desk/requests/(SUP-[0-9A-F]+)"', page.text))

    assert numbers("") == {card.number, missing.number, other.number}
    assert numbers("?topic=missing_purchase") == {missing.number}
    assert numbers("?q=lost.card@") == {card.number}
    assert numbers("?q=giulia") == {card.number}
    assert numbers(f"?q={missing.number.lower()}") == {missing.number}
    assert numbers("?q=ord-7k3m-9qxt") == {missing.number}
    assert numbers("?q=flickers") == {other.number}
    assert numbers("?assignee=mine") == set()

    opened = agent.get(f"/desk/requests/{card.number}")
    assert opened.status_code == 200
    assert request_row(database, card.number).status == "open"
    [event] = audit_events(database, "support.status_changed")
    assert event.actor == f"agent:{staff.id}"
    assert (event.details["previous"], event.details["status"]) == ("new", "open")
    assert agent.get(f"/desk/requests/{card.number}").status_code == 200  # once only
    assert len(audit_events(database, "support.status_changed")) == 1
    assert agent.post(f"/desk/requests/{card.number}/assign").status_code == 303
    assert numbers("?assignee=mine") == {card.number}
    assert numbers("?assignee=unassigned") == {missing.number, other.number}
    assert numbers("?status=open") == {card.number}
    assert numbers("?status=new") == {missing.number, other.number}
    queue = agent.get("/desk").text
    assert 'class="count-new">2<' in queue
    assert 'class="count-open">1<' in queue

    set_to = agent.post(f"/desk/requests/{card.number}/status", {"status": "waiting"})
    assert set_to.status_code == 303
    assert request_row(database, card.number).status == "waiting"
    refused = agent.post(f"/desk/requests/{card.number}/status", {"status": "new"})
    assert refused.status_code == 422


# --- one lookup, five identifiers ----------------------------------------------------------


def test_one_lookup_finds_by_order_number_email_code_license_key_and_public_id(
    api: httpx.Client,
    make_order: MakeOrder,
    make_account: MakeAccount,
    sign_in_staff: SignInStaff,
) -> None:
    customer = make_account()
    order = make_order(email=customer.email)
    [code] = order.codes
    activated = activate(api, code, device())
    agent, _ = sign_in_staff()
    masked = "XXXXX-XXXXX-XXXXX-" + code.replace("-", "")[-5:]

    def look(q: str) -> str:
        page = agent.client.get("/desk/lookup", params={"q": q})
        assert page.status_code == 200, page.text
        assert code not in page.text  # looking up is not a disclosure
        return page.text

    by_number = look(order.number.lower().replace("-", " "))
    assert "Read as an order number" in by_number
    assert order.number in by_number
    assert masked in by_number
    by_email = look(customer.email.upper())
    assert "Read as an email address" in by_email
    assert order.number in by_email
    assert masked in by_email
    by_code = look(code.lower())
    assert "Read as an activation code" in by_code
    assert activated["public_id"] in by_code
    by_key = look(activated["license_key"])
    assert "Read as a license key" in by_key
    assert activated["public_id"] in by_key
    by_public_id = look(activated["public_id"].lower())
    assert "Read as a public license ID" in by_public_id
    assert masked in by_public_id

    # A mistyped code or key is told apart from an unknown one, before any lookup.
    mistyped = code[:-1] + ("0" if code[-1] != "0" else "1")
    refused = agent.client.get("/desk/lookup", params={"q": mistyped})
    assert refused.status_code == 422
    assert "check value does not match" in refused.text
    key = activated["license_key"]
    bad_key = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert agent.client.get("/desk/lookup", params={"q": bad_key}).status_code == 422
    assert "Nothing found" in look("ORD-0000-0000")

    license_page = agent.get(f"/desk/licenses/{activated['public_id']}")
    assert license_page.status_code == 200
    assert "Laptop" in license_page.text
    assert masked in license_page.text
    assert code not in license_page.text


# --- sending a code -------------------------------------------------------------------------


def test_a_code_goes_only_to_an_email_of_record_its_owner_is_told_and_it_is_audited(
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    mail_worker: SmtpServer,
    database: Database,
    keyring: Keyring,
    code_id: CodeId,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    request = make_request(
        screenshot=png_bytes(),
        reading=Reading(f"License key {linked.license_key}", linked.license_key, True),
    )
    agent, staff = sign_in_staff()
    page = agent.get(f"/desk/requests/{request.number}")
    assert "verified" in page.text
    assert f"/desk/licenses/{linked.public_id}?request={request.number}" in page.text
    license_page = agent.get(f"/desk/licenses/{linked.public_id}?request={request.number}")
    assert "their screenshot shows this license, verified" in license_page.text
    assert linked.code not in license_page.text
    target = code_id(linked.code)
    send = f"/desk/requests/{request.number}/send-code"

    # Anything but a role of record is refused, a typed address above all.
    for forged in ("attacker@example.net", "", "admin", request.email):
        refused = agent.post(
            send,
            {"code_id": str(target), "destination": forged, "reason": "x", "then": "solved"},
        )
        assert refused.status_code == 422, forged
        assert "only to an email address of record" in refused.text
    assert audit_events(database, "support.code_sent") == []
    assert not any(linked.code in text for _, text in all_mail_text(database, keyring))
    no_reason = agent.post(
        send, {"code_id": str(target), "destination": "request", "reason": "", "then": "solved"}
    )
    assert no_reason.status_code == 422

    sent = agent.post(
        send,
        {
            "code_id": str(target),
            "destination": "request",
            "reason": "screenshot of License details, key verified",
            "then": "solved",
            "message": "Thanks for the screenshot.",
        },
    )
    assert sent.status_code == 303, sent.text
    mail = mail_worker.inbox.to(request.email, request.number)
    text = text_of(mail)
    assert linked.code in text
    assert "Thanks for the screenshot." in text
    notice = text_of(mail_worker.inbox.to(owner.email, request.number))
    assert "sent the activation code" in notice
    assert linked.code not in notice
    assert request.email[:2] + "***@example.com" in notice

    [event] = audit_events(database, "support.code_sent")
    assert event.actor == f"agent:{staff.id}"
    assert event.subject_type == "activation_code"
    assert event.subject_id == target
    assert event.reason == "screenshot of License details, key verified"
    assert event.occurred_at is not None
    assert event.details["request"] == request.number
    assert event.details["to"] == request.email
    assert linked.code not in str(event.details)

    assert request_row(database, request.number).status == "solved"
    thread = agent.get(f"/desk/requests/{request.number}").text
    assert "Sent the activation code XXXXX-XXXXX-XXXXX-" in thread
    assert linked.code not in thread


def test_a_reply_never_carries_a_code_and_notes_stay_internal(
    make_request: MakeRequest,
    make_code: MakeCode,
    sign_in_staff: SignInStaff,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    request = make_request(language="it")
    agent, _ = sign_in_staff()
    code = make_code()
    carrying = agent.post(
        f"/desk/requests/{request.number}/reply", {"body": f"Your code is {code.lower()}"}
    )
    assert carrying.status_code == 422
    assert "cannot carry an activation code" in carrying.text

    note = "Internal: the customer sounded unsure; check the order date."
    assert agent.post(f"/desk/requests/{request.number}/note", {"note": note}).status_code == 303
    replied = agent.post(
        f"/desk/requests/{request.number}/reply",
        {"canned": "need_screenshot", "body": "", "status": "waiting"},
    )
    assert replied.status_code == 303
    [mail] = outbox(database, request.email, "support_reply")
    text, _ = bodies(keyring, mail)
    assert "screenshot" in text
    assert "Ciao" in text
    assert request_row(database, request.number).status == "waiting"
    for _, body in all_mail_text(database, keyring):
        assert "sounded unsure" not in body

    desk_page = agent.get(f"/desk/requests/{request.number}").text
    assert "sounded unsure" in desk_page
    assert "Internal note" in desk_page
    follow = form_browser().get(request.follow_path)
    assert follow.status_code == 200
    assert "sounded unsure" not in follow.text
    assert "Set the status" not in follow.text


def test_a_key_typed_by_eye_is_checked_before_any_lookup_and_recorded(
    api: httpx.Client,
    make_code: MakeCode,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    database: Database,
) -> None:
    activated = activate(api, make_code(), device())
    key = activated["license_key"]
    request = make_request(
        screenshot=png_bytes(), reading=Reading("License key 27386F19 7186", None, False)
    )
    agent, staff = sign_in_staff()
    page = agent.get(f"/desk/requests/{request.number}").text
    assert "unverified — check by eye" in page
    assert "27386F19 7186" in page

    typed = f"/desk/requests/{request.number}/key"
    wrong = key[:5] + ("0" if key[5] != "0" else "1") + key[6:]
    refused = agent.post(typed, {"license_key": wrong})
    assert refused.status_code == 422
    assert 'id="license_key-error"' in refused.text
    assert "check value" in refused.text
    assert audit_events(database, "support.key_confirmed") == []
    found = agent.post(typed, {"license_key": key.lower()})
    assert found.status_code == 303
    assert found.headers["location"] == (
        f"/desk/licenses/{activated['public_id']}?request={request.number}"
    )
    [event] = audit_events(database, "support.key_confirmed")
    assert event.actor == f"agent:{staff.id}"
    assert event.details["request"] == request.number
    assert activated["public_id"] in agent.get(f"/desk/requests/{request.number}").text


def test_the_requester_gets_a_code_only_when_the_request_shows_its_license(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_code: MakeCode,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    database: Database,
    code_id: CodeId,
) -> None:
    # A stranger asks for a code held in someone's account, and for a card code nobody
    # holds, with a screenshot that shows neither: no code may go to the stranger.
    owner = make_account()
    held = linked_code(owner)
    card = make_code()
    card_key = activate(api, card, device())["license_key"]
    request = make_request(screenshot=png_bytes(), reading=Reading("blurred", None, False))
    agent, _ = sign_in_staff()
    send = f"/desk/requests/{request.number}/send-code"
    held_id = code_id(held.code)
    card_id = code_id(card)

    held_page = agent.get(f"/desk/codes/{held_id}?request={request.number}").text
    assert request.email not in held_page
    assert owner.email in held_page
    card_page = agent.get(f"/desk/codes/{card_id}?request={request.number}").text
    assert "No email address of record can receive this code" in card_page
    for target in (held_id, card_id):
        refused = agent.post(
            send,
            {"code_id": str(target), "destination": "request", "reason": "x", "then": "solved"},
        )
        assert refused.status_code == 422
    assert audit_events(database, "support.code_sent") == []

    # The account's own address is of record: the held code may go there.
    sent = agent.post(
        send,
        {"code_id": str(held_id), "destination": "account", "reason": "x", "then": "waiting"},
    )
    assert sent.status_code == 303, sent.text

    # Once the agent confirms the card's key read by eye on the screenshot, it may go to
    # the requester.
    assert (
        agent.post(f"/desk/requests/{request.number}/key", {"license_key": card_key}).status_code
        == 303
    )
    card_page = agent.get(f"/desk/codes/{card_id}?request={request.number}").text
    assert "their screenshot shows this license, verified" in card_page
    sent = agent.post(
        send,
        {
            "code_id": str(card_id),
            "destination": "request",
            "reason": "key read by eye",
            "then": "solved",
        },
    )
    assert sent.status_code == 303, sent.text
    [first, second] = audit_events(database, "support.code_sent")
    assert (first.details["to"], second.details["to"]) == (owner.email, request.email)


def test_neither_a_note_nor_a_reply_keeps_a_code_or_a_license_key_in_the_thread(
    make_request: MakeRequest,
    make_code: MakeCode,
    sign_in_staff: SignInStaff,
    api: httpx.Client,
    database: Database,
) -> None:
    request = make_request()
    agent, _ = sign_in_staff()
    code = make_code()
    license_key = activate(api, code, device())["license_key"]
    grouped_key = " ".join(license_key[i : i + 4] for i in range(0, 32, 4))

    posts = [
        agent.post(f"/desk/requests/{request.number}/note", {"note": f"code {code}"}),
        agent.post(f"/desk/requests/{request.number}/note", {"note": f"key {grouped_key}"}),
        agent.post(f"/desk/requests/{request.number}/reply", {"body": f"key {license_key}"}),
    ]

    assert [post.status_code for post in posts] == [422, 422, 422]
    assert "cannot carry an activation code" in posts[0].text
    assert "cannot carry a license key" in posts[1].text
    with database.transaction() as session:
        bodies_stored = session.scalars(
            select(SupportMessage.body).where(SupportMessage.request_id == request.id)
        ).all()
    assert not any(code in body or license_key in body for body in bodies_stored)


def spellings_that_activate(code: str) -> list[str]:
    """The ways people write a code that activation takes (and the old filters missed)."""
    canonical = code.replace("-", "")
    groups = [canonical[i : i + 5] for i in range(0, 20, 5)]
    look_alike = canonical.replace("0", "o").replace("1", "l")
    return [
        ".".join(groups),
        f"{groups[0]}-{groups[1]} {groups[2]}.{groups[3]}".lower(),
        " ".join(canonical),
        canonical.lower(),
        "_".join(look_alike[i : i + 4] for i in range(0, 20, 4)),
        " - ".join(groups),
    ]


def test_a_reply_or_a_note_refuses_every_spelling_of_a_code_or_key_that_activates(
    make_request: MakeRequest,
    make_code: MakeCode,
    sign_in_staff: SignInStaff,
    api: httpx.Client,
    database: Database,
) -> None:
    request = make_request()
    agent, _ = sign_in_staff()
    code = make_code()
    spellings = spellings_that_activate(code)
    # Activation itself takes the oddest of them.
    license_key = activate(api, spellings[1], device())["license_key"]
    assert activate(api, spellings[4], device())["license_key"] == license_key
    key_spellings = [
        license_key.lower(),
        ".".join(license_key[i : i + 4] for i in range(0, 32, 4)),
        "-".join(license_key[i : i + 8] for i in range(0, 32, 8)).replace("0", "O"),
    ]
    reply = f"/desk/requests/{request.number}/reply"
    note = f"/desk/requests/{request.number}/note"

    for spelling in spellings:
        for path, field in ((reply, "body"), (note, "note")):
            refused = agent.post(path, {field: f"Here it is: {spelling}. Regards"})
            assert refused.status_code == 422, (path, spelling)
            assert "cannot carry an activation code" in refused.text
    for spelling in key_spellings:
        for path, field in ((reply, "body"), (note, "note")):
            refused = agent.post(path, {field: f"The key ({spelling}) is fine."})
            assert refused.status_code == 422, (path, spelling)
            assert "cannot carry a license key" in refused.text
    # A long note is read whole: the code at its very end is found.
    long_note = "The customer explains at length. " * 160 + spellings[0]
    assert len(long_note) > 5_000
    assert agent.post(note, {"note": long_note}).status_code == 422

    with database.transaction() as session:
        stored = session.scalars(
            select(SupportMessage.body).where(SupportMessage.request_id == request.id)
        ).all()
    assert len(stored) == 1  # the customer's own message only


def test_order_request_and_license_numbers_pass_the_reply_and_note_filters(
    make_request: MakeRequest,
    make_order: MakeOrder,
    sign_in_staff: SignInStaff,
    database: Database,
) -> None:
    request = make_request()
    orders = [make_order() for _ in range(3)]
    agent, _ = sign_in_staff()
    numbers = " ".join(order.number for order in orders)
    text = (
        f"Orders: {numbers}; request {request.number}, license LIC-7K3M-9QXT and "
        f"LIC-0000-1111 - LIC-2222-3333 - LIC-4444-5555."
    )
    noted = agent.post(f"/desk/requests/{request.number}/note", {"note": text})
    assert noted.status_code == 303, noted.text
    replied = agent.post(f"/desk/requests/{request.number}/reply", {"body": text})
    assert replied.status_code == 303, replied.text
    with database.transaction() as session:
        stored = session.scalars(
            select(SupportMessage.body).where(SupportMessage.request_id == request.id)
        ).all()
    assert stored.count(text) == 2


# --- F7: attach an order -------------------------------------------------------------------


def test_an_order_of_the_accounts_own_address_is_attached_at_once(
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    # Bought before the account was made (by the back office, so nothing joined it then).
    email = fresh_email("missing")
    order = make_order(email=email, quantity=2)
    customer = make_account(email)
    request = make_request(
        topic=Topic.MISSING_PURCHASE, email=customer.email, order_number=order.number
    )
    browser = form_browser()
    browser.sign_in(customer)
    assert order.codes[0] not in browser.get("/account/licenses").text

    agent, staff = sign_in_staff()
    page = agent.get(f"/desk/requests/{request.number}").text
    [order_id] = re.findall(r'name="order_id" value="(\d+)"', page)
    attached = agent.post(
        f"/desk/requests/{request.number}/attach-order",
        {"order_id": order_id, "reason": "order number, name and email match"},
    )
    assert attached.status_code == 303, attached.text

    licenses = browser.get("/account/licenses").text
    assert all(code in licenses for code in order.codes)
    assert len(outbox(database, customer.email, "license_added")) == 2
    [event] = audit_events(database, "support.order_attached")
    assert event.actor == f"agent:{staff.id}"
    assert event.reason
    assert event.details["codes_attached"] == 2

    # Another account's order is never moved.
    someone_else = make_account()
    theirs = make_order(email=someone_else.email, account_id=someone_else.id)
    other_request = make_request(
        topic=Topic.MISSING_PURCHASE, email=customer.email, order_number=theirs.number
    )
    page = agent.get(f"/desk/requests/{other_request.number}").text
    [their_id] = re.findall(r'name="order_id" value="(\d+)"', page)
    refused = agent.post(
        f"/desk/requests/{other_request.number}/attach-order",
        {"order_id": their_id, "reason": "asked"},
    )
    assert refused.status_code == 409
    assert "belongs to another account" in refused.text
    assert theirs.codes[0] not in browser.get("/account/licenses").text


def attach_order_form(agent: Browser, number: str) -> str:
    """The order id the request page offers to attach (the order the customer named)."""
    page = agent.get(f"/desk/requests/{number}").text
    [order_id] = re.findall(r'name="order_id" value="(\d+)"', page)
    return str(order_id)


def codes_in_account(database: Database, account_id: int) -> int:
    with database.transaction() as session:
        return len(
            session.scalars(
                select(ActivationCode.id).where(ActivationCode.account_id == account_id)
            ).all()
        )


def approvals_of(database: Database) -> list[AttachApproval]:
    with database.transaction() as session:
        rows = list(session.scalars(select(AttachApproval).order_by(AttachApproval.id)))
        session.expunge_all()
        return rows


def test_an_order_of_another_address_moves_only_when_that_address_confirms_by_mail(
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    customer = make_account()
    order = make_order(email="bought-with@example.com", quantity=2)
    request = make_request(
        topic=Topic.MISSING_PURCHASE, email=customer.email, order_number=order.number
    )
    agent, staff = sign_in_staff()
    asked = agent.post(
        f"/desk/requests/{request.number}/attach-order",
        {"order_id": attach_order_form(agent, request.number), "reason": "changed address"},
    )
    assert asked.status_code == 303, asked.text
    assert "done=attach_asked" in asked.headers["location"]

    # Nothing moved: the account shows no code; its holder got no mail.
    browser = form_browser()
    browser.sign_in(customer)
    licenses = browser.get("/account/licenses").text
    assert not any(code in licenses for code in order.codes)
    assert codes_in_account(database, customer.id) == 0
    assert outbox(database, customer.email) == []

    # The order's own address is told first, with a link, and never a code.
    [mail] = outbox(database, "bought-with@example.com", "support_attach_confirm")
    text, html_text = bodies(keyring, mail)
    for body in (mail.subject + text, html_text):
        assert order.number in body
        assert request.number in body
        assert f"{customer.email[:2]}***@example.com" in body
        assert not any(code in body for code in order.codes)
    assert "2 activation codes" in text
    assert "nothing moves" in text
    link = link_in_mail(keyring, mail, "/support/confirm/")
    [approval] = approvals_of(database)
    assert approval.state == "pending"
    assert approval.token_hash == hashlib.sha256(link.rsplit("/", 1)[1].encode()).digest()
    [requested] = audit_events(database, "support.attach_requested")
    assert requested.actor == f"agent:{staff.id}"
    assert requested.reason == "changed address"
    assert requested.details["owner"] == "bought-with@example.com"
    desk_page = html.unescape(agent.get(f"/desk/requests/{request.number}").text)
    assert "Attachments waiting for approval" in desk_page
    assert "Waiting: nothing has moved" in desk_page
    assert "nothing moves until the order's address bought-with@example.com" in desk_page
    assert "Approve and attach" not in desk_page  # not to the agent who asked

    # Opening the link (as a mail scanner would, twice) only asks.
    owner = form_browser()
    for _ in range(2):
        question = owner.get(link)
        assert question.status_code == 200
        assert question.headers["cache-control"] == "no-store"
        assert order.number in question.text
        assert f"{customer.email[:2]}***@example.com" in question.text
        assert not any(code in question.text for code in order.codes)
    assert codes_in_account(database, customer.id) == 0
    assert owner.post(link, {"decision": "confirm"}, token="").status_code == 403  # CSRF
    assert codes_in_account(database, customer.id) == 0

    confirmed = owner.post(link, {"decision": "confirm"}, token=owner.csrf_token(link))
    assert confirmed.status_code == 200, confirmed.text
    assert "Done: it is in that account" in confirmed.text
    licenses = browser.get("/account/licenses").text
    assert all(code in licenses for code in order.codes)
    assert len(outbox(database, customer.email, "license_added")) == 2
    # The order's address gets one receipt for the whole order, not one mail per code.
    assert [mail.template for mail in outbox(database, "bought-with@example.com")] == [
        "order_confirmation",
        "support_attach_confirm",
        "support_notice",
    ]
    [confirmation] = audit_events(database, "support.attach_confirmed")
    assert confirmation.actor == "owner:bought-with@example.com"
    [attached] = audit_events(database, "support.order_attached")
    assert attached.actor == "owner:bought-with@example.com"
    assert attached.details["codes_attached"] == 2
    assert attached.details["approval"] == approval.id
    thread = html.unescape(agent.get(f"/desk/requests/{request.number}").text)
    assert "The order's address bought-with@example.com confirmed attaching order" in thread
    assert "Confirmed by the order's address: attached" in thread

    # The link is spent.
    again = owner.get(link)
    assert again.status_code == 404
    assert "This link no longer works" in again.text
    assert owner.post(link, {"decision": "confirm"}, token=owner.csrf_token()).status_code == 400
    assert len(audit_events(database, "support.order_attached")) == 1


def test_the_agent_who_asked_cannot_approve_it_a_second_staff_member_can(
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
) -> None:
    customer = make_account()
    order = make_order(email="old-address@example.com")
    request = make_request(
        topic=Topic.MISSING_PURCHASE, email=customer.email, order_number=order.number
    )
    asker, _ = sign_in_staff()
    assert (
        asker.post(
            f"/desk/requests/{request.number}/attach-order",
            {"order_id": attach_order_form(asker, request.number), "reason": "asked by phone"},
        ).status_code
        == 303
    )
    [approval] = approvals_of(database)
    approve = f"/desk/requests/{request.number}/approvals/{approval.id}"

    refused = asker.post(approve, {"reason": "I checked it myself"})
    assert refused.status_code == 422
    assert "another staff member must approve it" in refused.text
    assert codes_in_account(database, customer.id) == 0

    second, reviewer = sign_in_staff("admin")
    page = second.get(f"/desk/requests/{request.number}").text
    assert "Approve and attach" in page
    assert second.post(approve, {"reason": ""}).status_code == 422
    approved = second.post(approve, {"reason": "purchase receipt matches the account"})
    assert approved.status_code == 303, approved.text
    assert "done=approved" in approved.headers["location"]
    browser = form_browser()
    browser.sign_in(customer)
    assert order.codes[0] in browser.get("/account/licenses").text
    [event] = audit_events(database, "support.attach_approved")
    assert event.actor == f"agent:{reviewer.id}"
    assert event.reason == "purchase receipt matches the account"
    # The order's address was asked first, and is told what moved.
    [asked_mail] = outbox(database, "old-address@example.com", "support_attach_confirm")
    [notice] = outbox(database, "old-address@example.com", "support_notice")
    assert asked_mail.id < notice.id
    # Once for the whole order, not once more per code.
    assert [mail.template for mail in outbox(database, "old-address@example.com")] == [
        "order_confirmation",
        "support_attach_confirm",
        "support_notice",
    ]
    text, _ = bodies(keyring, notice)
    assert order.number in text
    assert order.codes[0] not in text
    thread = second.get(f"/desk/requests/{request.number}").text
    assert f"Approved by {reviewer.email}: attached" in thread

    # Decided once: the owner's link is spent, a second approval refused.
    link = link_in_mail(keyring, asked_mail, "/support/confirm/")
    assert form_browser().get(link).status_code == 404
    assert second.post(approve, {"reason": "again"}).status_code == 422
    assert len(audit_events(database, "support.order_attached")) == 1


def test_a_code_is_attached_at_once_only_when_it_is_the_accounts_or_shown_by_the_request(
    api: httpx.Client,
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_code: MakeCode,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    database: Database,
    code_id: CodeId,
) -> None:
    customer = make_account()
    own = make_order(email=customer.email)  # its order's address is the account's
    shown = make_code("card")  # a card nobody holds, shown by the request's screenshot
    shown_key = activate(api, shown, device())["license_key"]
    unproven = make_code("card")  # a card nobody holds, and nothing shows it
    activate(api, unproven, device())
    request = make_request(
        email=customer.email,
        screenshot=png_bytes(),
        reading=Reading(f"License key {shown_key}", shown_key, True),
    )
    agent, _ = sign_in_staff()
    attach = f"/desk/requests/{request.number}/attach-code"

    def code_row(code: str) -> str:
        return str(code_id(code))

    for code in (own.codes[0], shown):
        done = agent.post(attach, {"code_id": code_row(code), "reason": "theirs"})
        assert done.status_code == 303, done.text
        assert done.headers["location"].endswith("done=attached")
    assert codes_in_account(database, customer.id) == 2
    assert len(audit_events(database, "support.code_attached")) == 2

    # Nobody of record can confirm the unproven card: a second staff member only.
    asked = agent.post(attach, {"code_id": code_row(unproven), "reason": "customer insists"})
    assert asked.status_code == 303, asked.text
    assert "done=attach_asked_staff" in asked.headers["location"]
    assert codes_in_account(database, customer.id) == 2
    [approval] = approvals_of(database)
    assert approval.owner_email is None
    assert approval.token_hash is None
    assert outbox(database, customer.email, "support_attach_confirm") == []
    page = agent.get(f"/desk/requests/{request.number}").text
    assert "Another staff member only" in page
    assert unproven not in page
    again = agent.post(attach, {"code_id": code_row(unproven), "reason": "again"})
    assert again.status_code == 422
    assert "already waiting" in again.text

    second, _ = sign_in_staff()
    approved = second.post(
        f"/desk/requests/{request.number}/approvals/{approval.id}",
        {"reason": "the card's receipt matches"},
    )
    assert approved.status_code == 303, approved.text
    assert codes_in_account(database, customer.id) == 3


def test_an_expired_or_declined_question_moves_nothing_and_cannot_be_approved(
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
) -> None:
    customer = make_account()
    late = make_order(email="slow@example.com")
    refused = make_order(email="careful@example.com")
    asker, _ = sign_in_staff()
    links = {}
    for order, address in ((late, "slow@example.com"), (refused, "careful@example.com")):
        request = make_request(
            topic=Topic.MISSING_PURCHASE, email=customer.email, order_number=order.number
        )
        asked = asker.post(
            f"/desk/requests/{request.number}/attach-order",
            {"order_id": attach_order_form(asker, request.number), "reason": "asked"},
        )
        assert asked.status_code == 303, asked.text
        [mail] = outbox(database, address, "support_attach_confirm")
        links[order.number] = (request.number, link_in_mail(keyring, mail, "/support/confirm/"))
    [late_approval, refused_approval] = approvals_of(database)

    # The owner of one answers no: nothing moves, and no staff member can approve it.
    second, _ = sign_in_staff()
    number, link = links[refused.number]
    owner = form_browser()
    declined = owner.post(link, {"decision": "decline"}, token=owner.csrf_token(link))
    assert declined.status_code == 200
    assert "nothing has moved" in declined.text
    answer = second.post(
        f"/desk/requests/{number}/approvals/{refused_approval.id}", {"reason": "x"}
    )
    assert answer.status_code == 422
    assert "did not ask for it" in answer.text
    assert [e.actor for e in audit_events(database, "support.attach_declined")] == [
        "owner:careful@example.com"
    ]

    # The other is never answered: after seven days its link does nothing.
    clock.advance(timedelta(days=8))
    number, link = links[late.number]
    stranger = form_browser()
    expired = stranger.get(link)
    assert expired.status_code == 404
    assert "This link no longer works" in expired.text
    tried = stranger.post(link, {"decision": "confirm"}, token=stranger.csrf_token())
    assert tried.status_code == 400
    jobs.run_once(database, keyring, settings, clock.now)  # the expiry's own job: no-op now
    second, _ = sign_in_staff()  # a week on: a new sign-in
    answer = second.post(f"/desk/requests/{number}/approvals/{late_approval.id}", {"reason": "x"})
    assert answer.status_code == 422
    assert "in time" in answer.text
    assert codes_in_account(database, customer.id) == 0
    assert audit_events(database, "support.order_attached") == []
    [expiry] = audit_events(database, "support.attach_expired")
    assert expiry.actor == "system"
    assert expiry.details["approval"] == late_approval.id
    assert "Expired: nothing moved" in second.get(f"/desk/requests/{number}").text


def test_an_unanswered_question_is_closed_by_the_worker_when_it_expires(
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
) -> None:
    customer = make_account()
    order = make_order(email="away@example.com")
    request = make_request(
        topic=Topic.MISSING_PURCHASE, email=customer.email, order_number=order.number
    )
    agent, _ = sign_in_staff()
    agent.post(
        f"/desk/requests/{request.number}/attach-order",
        {"order_id": attach_order_form(agent, request.number), "reason": "asked"},
    )
    jobs.run_once(database, keyring, settings, clock.now)
    assert audit_events(database, "support.attach_expired") == []  # not due yet
    clock.advance(timedelta(days=7, seconds=1))
    jobs.run_once(database, keyring, settings, clock.now)
    [expiry] = audit_events(database, "support.attach_expired")
    assert expiry.details["request"] == request.number
    [approval] = approvals_of(database)
    assert approval.state == "expired"
    assert approval.token_hash is None
    agent, _ = sign_in_staff()  # a week on: a new sign-in
    thread = agent.get(f"/desk/requests/{request.number}").text
    assert "Nobody confirmed or approved attaching order" in thread


def test_an_unconfirmed_account_of_the_orders_own_address_still_confirms_by_mail(
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    database: Database,
) -> None:
    # Anyone can sign up with an address: until its owner confirms it, the account is
    # not proof of holding the order's mailbox.
    unconfirmed = make_account(verified=False)
    order = make_order(email=unconfirmed.email)
    request = make_request(
        topic=Topic.MISSING_PURCHASE, email=unconfirmed.email, order_number=order.number
    )
    agent, _ = sign_in_staff()
    asked = agent.post(
        f"/desk/requests/{request.number}/attach-order",
        {"order_id": attach_order_form(agent, request.number), "reason": "asked"},
    )
    assert "done=attach_asked" in asked.headers["location"]
    assert codes_in_account(database, unconfirmed.id) == 0
    assert len(outbox(database, unconfirmed.email, "support_attach_confirm")) == 1


def test_attaching_needs_an_account_with_the_requests_email(
    make_order: MakeOrder, make_request: MakeRequest, sign_in_staff: SignInStaff
) -> None:
    order = make_order()
    request = make_request(topic=Topic.MISSING_PURCHASE, order_number=order.number)
    agent, _ = sign_in_staff()
    page = agent.get(f"/desk/requests/{request.number}").text
    [order_id] = re.findall(r'name="order_id" value="(\d+)"', page)
    refused = agent.post(
        f"/desk/requests/{request.number}/attach-order", {"order_id": order_id, "reason": "x"}
    )
    assert refused.status_code == 409
    assert "No account has this request" in refused.text


# --- seats, blocking ------------------------------------------------------------------------


def test_releasing_a_seat_lets_a_new_device_activate_and_tells_the_owner(
    api: httpx.Client,
    make_code: MakeCode,
    make_account: MakeAccount,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    database: Database,
) -> None:
    owner = make_account()
    code = make_code("solo", devices_max=1)
    old = device("Old laptop")
    activated = activate(api, code, old)
    assert link(api, owner, activated["license_key"], old["fingerprint"]).status_code == 200
    new = device("New laptop")
    full = api.post("/api/v1/activations", json=activation(code, new))
    assert full.status_code == 409
    assert full.json()["code"] == "device_limit_reached"

    request = make_request(email=owner.email)
    agent, staff = sign_in_staff()
    page = agent.get(f"/desk/licenses/{activated['public_id']}?request={request.number}").text
    [license_id] = set(re.findall(r'name="license_id" value="(\d+)"', page))
    [seat] = re.findall(r'name="activation_id" value="(\d+)"', page)
    released = agent.post(
        f"/desk/requests/{request.number}/release",
        {"license_id": license_id, "activation_id": seat, "reason": "old laptop was stolen"},
    )
    assert released.status_code == 303, released.text
    assert api.post("/api/v1/activations", json=activation(code, new)).status_code == 201

    history = agent.get(f"/desk/licenses/{activated['public_id']}").text
    assert f"support (agent:{staff.id})" in history
    assert "Old laptop" in history
    [notice] = outbox(database, owner.email, "support_notice")
    assert notice.subject.startswith("A support agent freed seats")
    [event] = audit_events(database, "support.seats_released")
    assert event.reason == "old laptop was stolen"
    assert event.details["request"] == request.number


def test_a_blocked_code_is_replaced_the_old_one_is_refused_the_new_one_activates(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_request: MakeRequest,
    sign_in_staff: SignInStaff,
    form_browser: OpenBrowser,
    mail_worker: SmtpServer,
    database: Database,
    code_id: CodeId,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    request = make_request(email=owner.email, account_id=owner.id)
    agent, staff = sign_in_staff()
    target = code_id(linked.code)
    replaced = agent.post(
        f"/desk/requests/{request.number}/replace-code",
        {"code_id": str(target), "reason": "the code was posted on a forum"},
    )
    assert replaced.status_code == 303, replaced.text
    location = replaced.headers["location"]
    replacement_id = int(re.findall(r"/desk/codes/(\d+)", location)[0])
    assert replacement_id != target

    blocked = api.post("/api/v1/activations", json=activation(linked.code, device()))
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "code_blocked"

    # The replacement is in the same account, and is sent by the same send action.
    with database.transaction() as session:
        replacement = session.get_one(ActivationCode, replacement_id)
        assert replacement.account_id == owner.id
    page = agent.get(location)
    assert "Send the activation code" in page.text
    sent = agent.post(
        f"/desk/requests/{request.number}/send-code",
        {
            "code_id": str(replacement_id),
            "destination": "request",
            "reason": "replacement for the leaked code",
            "then": "solved",
        },
    )
    assert sent.status_code == 303, sent.text
    [new_code] = CODE.findall(text_of(mail_worker.inbox.to(owner.email, "Your activation code")))
    assert new_code != linked.code
    assert activate(api, new_code, device())["plan"] == "plus"

    customer = form_browser()
    customer.sign_in(owner)
    assert new_code in customer.get("/account/licenses").text
    [event] = audit_events(database, "support.code_replaced")
    assert event.actor == f"agent:{staff.id}"
    assert event.reason == "the code was posted on a forum"
    assert event.details["replacement_id"] == replacement_id


HEADING = re.compile(r"<h([1-6])\b")


def test_a_codes_page_ranks_its_headings_one_below_another(
    make_code: MakeCode, make_request: MakeRequest, sign_in_staff: SignInStaff, code_id: CodeId
) -> None:
    # The actions sit under the page's h1 on a code's page and under an h2 on a license's:
    # each skips no rank (a screen reader's outline, axe-core's heading-order).
    request = make_request()
    agent, _ = sign_in_staff()
    page = agent.get(f"/desk/codes/{code_id(make_code())}?request={request.number}").text

    ranks = [int(rank) for rank in HEADING.findall(page)]
    assert ranks[0] == 1
    assert 2 in ranks
    assert all(later <= earlier + 1 for earlier, later in itertools.pairwise(ranks)), ranks
