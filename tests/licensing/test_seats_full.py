"""Seats full, self-service (issue 14, item 12), through the API: the 409 names the
license's devices and the ways forward, and the one-time link that frees a seat is mailed
to the owner of record only, with the same answer whatever was asked."""

from __future__ import annotations

import json
from datetime import datetime

import httpx

from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.mail.outbox import bodies
from licensor.models import Device
from tests.accounts.factories import Customer, LinkCode, MakeAccount, link, outbox
from tests.licensing.factories import (
    MakeCode,
    activate,
    device,
    request_release_link,
    try_activate,
)
from tests.mail_support import SmtpServer, text_of
from tests.store.factories import EnrollmentTokenFor, MakeOrder, MakeSubscription
from tests.support import assert_problem, audit_events

ACCEPTED = {
    "status": "accepted",
    "detail": "If this license has an owner of record, a link that frees one of its seats "
    "was mailed to the owner's address. It works once, for 24 hours.",
}


def test_the_refusal_at_the_device_limit_names_the_licenses_devices(
    api: httpx.Client,
    make_code: MakeCode,
    make_account: MakeAccount,
    database: Database,
    server: str,
) -> None:
    code = make_code("duo", devices_max=2)
    office, laptop = device("Office PC"), device("Laptop")
    activate(api, code, office)
    activated = activate(api, code, laptop)
    # The license's owner named the laptop, connected to the owner's account: the name
    # is the owner's, shown about the owner's license (tests/web/test_device_names.py:
    # never about another's).
    owner = make_account()
    assert link(api, owner, activated["license_key"], laptop["fingerprint"]).status_code == 200
    with database.transaction() as session:
        renamed = session.query(Device).filter_by(fingerprint=laptop["fingerprint"]).one()
        assert renamed.account_id == owner.id
        renamed.display_name = "Anna's laptop"

    refused = assert_problem(try_activate(api, code, device("New PC")), 409, "device_limit_reached")

    assert refused["devices_used"] == 2
    assert refused["devices_max"] == 2
    assert {seat["name"] for seat in refused["devices"]} == {"Office PC", "Anna's laptop"}
    for seat in refused["devices"]:
        assert seat["platform"] == "linux"
        assert seat["seat"].startswith("seat_")
        datetime.fromisoformat(seat["last_seen_at"])
        datetime.fromisoformat(seat["activated_at"])
        # Names only: no fingerprint, account or email travels to the code's holder.
        assert set(seat) == {"seat", "name", "platform", "activated_at", "last_seen_at"}
    assert len({seat["seat"] for seat in refused["devices"]}) == 2
    assert refused["free_seat_url"] == f"{server}/account/devices"
    assert refused["release_link_url"] == f"{server}/api/v1/licenses/seat-release-link"
    assert refused["release_link_available"] is True  # its owner's account is of record

    # A code in no account and no order (a card, a manual code): no owner to mail.
    ownerless = make_code("duo", devices_max=2)
    activate(api, ownerless, device())
    activate(api, ownerless, device())
    alone = assert_problem(try_activate(api, ownerless, device()), 409, "device_limit_reached")
    assert alone["release_link_available"] is False


def test_the_refusal_offers_the_link_when_the_license_has_an_owner(
    api: httpx.Client, make_order: MakeOrder
) -> None:
    order = make_order("plus")  # three devices
    code = order.codes[0]
    for name in ("PC 1", "PC 2", "PC 3"):
        activate(api, code, device(name))

    refused = try_activate(api, code, device("PC 4"))

    body = assert_problem(refused, 409, "device_limit_reached")
    assert body["release_link_available"] is True
    assert order.email not in refused.text


def test_the_link_goes_to_the_orders_address_and_frees_nothing_by_itself(
    api: httpx.Client,
    make_order: MakeOrder,
    keyring: Keyring,
    mail_worker: SmtpServer,
    database: Database,
) -> None:
    order = make_order("plus", email="buyer-seats@example.com", language="it")
    code = order.codes[0]
    for name in ("PC 1", "PC 2", "PC 3"):
        activate(api, code, device(name))
    newcomer = device("Nuovo PC")

    answer = request_release_link(api, newcomer, activation_code=code)

    assert answer.status_code == 202, answer.text
    assert answer.json() == ACCEPTED
    message = mail_worker.inbox.to("buyer-seats@example.com", "Libera un posto")
    text = text_of(message)
    assert '"Nuovo PC"' in text
    assert "PC 1" in text
    assert "PC 2" in text
    assert "/seat-release/" in text
    [sent] = audit_events(database, "licensing.seat_release_link_sent")
    assert sent.details["fingerprint"] == newcomer["fingerprint"]
    # Asking moves nothing: the newcomer is still refused until the owner chooses.
    assert_problem(try_activate(api, code, newcomer), 409, "device_limit_reached")


def test_the_link_goes_to_the_account_holding_the_license(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    database: Database,
    keyring: Keyring,
) -> None:
    customer: Customer = make_account()
    linked = linked_code(customer)

    answer = request_release_link(api, device("Borrowed PC"), license_key=linked.license_key)

    assert answer.status_code == 202
    [message] = outbox(database, customer.email, "seat_release_link")
    text, _ = bodies(keyring, message)
    assert linked.public_id in text


def test_the_same_answer_whatever_was_sent_and_no_mail_without_an_owner(
    api: httpx.Client, make_code: MakeCode, database: Database
) -> None:
    never_activated = make_code()
    ownerless = make_code("solo", devices_max=1)
    activate(api, ownerless, device())
    unknown = formats.format_code(formats.generate_code())

    answers = [
        request_release_link(api, device(), activation_code=text)
        for text in (unknown, never_activated, ownerless)
    ]

    assert [answer.status_code for answer in answers] == [202, 202, 202]
    assert all(answer.json() == ACCEPTED for answer in answers)
    assert audit_events(database, "licensing.seat_release_link_sent") == []


def test_a_mistyped_code_is_told_as_activation_tells_it(api: httpx.Client) -> None:
    code = formats.format_code(formats.generate_code())
    mistyped = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert_problem(
        request_release_link(api, device(), activation_code=mistyped), 422, "code_malformed"
    )
    both = api.post(
        "/api/v1/licenses/seat-release-link",
        json={"activation_code": code, "license_key": "0" * 32, "device": device()},
    )
    assert_problem(both, 422, "validation_failed")
    # Where the link goes is never the caller's to say.
    elsewhere = api.post(
        "/api/v1/licenses/seat-release-link",
        json={"activation_code": code, "device": device(), "email": "thief@example.com"},
    )
    assert_problem(elsewhere, 422, "validation_failed")


def test_one_owner_gets_at_most_three_links_a_day(
    api: httpx.Client, make_order: MakeOrder, database: Database
) -> None:
    order = make_order("solo-day", email="busy-owner@example.com")
    code = order.codes[0]
    activate(api, code, device())
    transports = [httpx.HTTPTransport(local_address=f"127.0.0.{n}") for n in (2, 3)]
    for transport in transports:
        with httpx.Client(base_url=str(api.base_url), transport=transport) as client:
            for _ in range(3):
                assert (
                    request_release_link(client, device(), activation_code=code).status_code == 202
                )

    assert len(outbox(database, "busy-owner@example.com", "seat_release_link")) == 3


def test_asking_is_rate_limited_per_address(api: httpx.Client, make_code: MakeCode) -> None:
    unknown = formats.format_code(formats.generate_code())
    answers = [
        request_release_link(api, device(), activation_code=unknown).status_code for _ in range(6)
    ]
    assert answers == [202] * 5 + [429]


def test_a_subscriptions_refusal_names_its_devices_and_sends_its_owner_to_sign_in(
    api: httpx.Client,
    make_account: MakeAccount,
    make_subscription: MakeSubscription,
    enrollment_token: EnrollmentTokenFor,
    server: str,
) -> None:
    customer = make_account()
    subscription = make_subscription(customer.id, "solo-sub", devices_max=1)

    def enroll(name: str) -> httpx.Response:
        token = enrollment_token(customer.id, subscription)
        return api.post("/api/v1/enrollments", json={"token": token, "device": device(name)})

    assert enroll("Home PC").status_code == 201
    refused = assert_problem(enroll("Work PC"), 409, "device_limit_reached")

    assert [seat["name"] for seat in refused["devices"]] == ["Home PC"]
    assert refused["free_seat_url"] == f"{server}/account/devices"
    # The refused device holds no code or key to ask for a link with: its owner signs in.
    assert refused["release_link_available"] is False
    assert customer.email not in json.dumps(refused)
