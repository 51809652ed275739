"""POST /api/v1/account/licenses (F4) and connecting a device by a short code (F10)."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.licensing import formats
from licensor.models import Account, ActivationCode, License
from tests.accounts.factories import (
    Customer,
    LinkCode,
    MakeAccount,
    OpenBrowser,
    link,
    outbox,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, activate, device
from tests.support import assert_problem, audit_events


def _code_owner(database: Database, license_key_public_id: str) -> int | None:
    with database.transaction() as session:
        return session.scalars(
            select(ActivationCode.account_id)
            .join(License, License.code_id == ActivationCode.id)
            .where(License.public_id == license_key_public_id)
        ).one()


def _activated(api: httpx.Client, make_code: MakeCode) -> tuple[str, dict[str, Any], str]:
    """(code, activation answer, fingerprint) of a code activated on a new device."""
    code = make_code()
    machine = device()
    return code, activate(api, code, machine), machine["fingerprint"]


# --- linking ------------------------------------------------------------------------------------


def test_a_license_on_this_device_joins_the_account_audited_and_the_owner_is_told(
    api: httpx.Client,
    make_account: MakeAccount,
    make_code: MakeCode,
    database: Database,
    form_browser: OpenBrowser,
    settings: Settings,
) -> None:
    customer = make_account()
    code, activated, fingerprint = _activated(api, make_code)

    response = link(api, customer, activated["license_key"], fingerprint)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "status": "linked",
        "public_id": activated["public_id"],
        "plan": "plus",
        "licenses_url": settings.base_url + "/account/licenses",
    }
    assert _code_owner(database, activated["public_id"]) == customer.id
    (event,) = audit_events(database, "accounts.license_linked")
    assert event.actor == f"account:{customer.id}"
    assert event.details["via"] == "app"
    assert event.details["public_id"] == activated["public_id"]
    (mail,) = outbox(database, customer.email, "license_added")
    assert "added" in mail.subject.lower()
    signed_in = form_browser()
    signed_in.sign_in(customer)
    assert code in signed_in.get("/account/licenses").text


def test_linking_again_is_idempotent(
    api: httpx.Client, make_account: MakeAccount, linked_code: LinkCode, database: Database
) -> None:
    customer = make_account()
    linked = linked_code(customer)

    again = link(api, customer, linked.license_key, linked.fingerprint)

    assert again.status_code == 200, again.text
    assert again.json()["status"] == "already_linked"
    assert again.json()["public_id"] == linked.public_id
    assert _code_owner(database, linked.public_id) == customer.id
    assert len(audit_events(database, "accounts.license_linked")) == 1
    assert len(outbox(database, customer.email, "license_added")) == 1


def test_a_license_in_another_account_is_refused_pointing_to_support_and_not_moved(
    api: httpx.Client, make_account: MakeAccount, linked_code: LinkCode, database: Database
) -> None:
    owner, other = make_account(), make_account()
    linked = linked_code(owner)

    response = link(api, other, linked.license_key, linked.fingerprint)

    body = assert_problem(response, 409, "license_linked_elsewhere")
    assert "support" in body["title"] + body.get("detail", "")
    assert _code_owner(database, linked.public_id) == owner.id
    (refused,) = audit_events(database, "accounts.license_link_refused")
    assert refused.actor == f"account:{other.id}"
    assert outbox(database, other.email, "license_added") == []


def test_a_license_not_active_on_that_device_is_refused(
    api: httpx.Client, make_account: MakeAccount, make_code: MakeCode, database: Database
) -> None:
    customer = make_account()
    _, activated, _ = _activated(api, make_code)

    response = link(api, customer, activated["license_key"], secrets.token_hex(16))

    assert_problem(response, 403, "license_not_on_device")
    assert _code_owner(database, activated["public_id"]) is None


def test_a_license_released_from_the_device_can_no_longer_be_linked_from_it(
    api: httpx.Client, make_account: MakeAccount, make_code: MakeCode, database: Database
) -> None:
    customer = make_account()
    _, activated, fingerprint = _activated(api, make_code)
    released = api.post(
        "/api/v1/activations/release",
        json={"license_key": activated["license_key"], "fingerprint": fingerprint},
    )
    assert released.status_code == 200, released.text

    response = link(api, customer, activated["license_key"], fingerprint)

    assert_problem(response, 403, "license_not_on_device")
    assert _code_owner(database, activated["public_id"]) is None


def test_a_malformed_license_key_is_refused_before_any_lookup(
    api: httpx.Client, make_account: MakeAccount
) -> None:
    customer = make_account()
    mistyped = "0123456789ABCDEF0123456789ABCDEF"
    assert not formats.is_valid_license_key(mistyped)

    response = link(api, customer, mistyped, secrets.token_hex(16))

    assert_problem(response, 422, "license_key_malformed")


def test_an_unknown_license_key_is_refused(api: httpx.Client, make_account: MakeAccount) -> None:
    customer = make_account()

    response = link(api, customer, formats.generate_license_key(), secrets.token_hex(16))

    assert_problem(response, 404, "license_unknown")


def test_a_request_missing_fields_is_a_validation_problem(api: httpx.Client) -> None:
    response = api.post("/api/v1/account/licenses", json={"email": "ann@example.com"})

    body = assert_problem(response, 422, "validation_failed")
    assert {error["field"] for error in body["errors"]} >= {"password", "license_key"}


def test_an_unverified_account_is_refused_and_sent_the_verification_again(
    api: httpx.Client, make_account: MakeAccount, make_code: MakeCode, database: Database
) -> None:
    customer = make_account(verified=False)
    _, activated, fingerprint = _activated(api, make_code)

    response = link(api, customer, activated["license_key"], fingerprint)

    assert_problem(response, 403, "email_not_verified")
    assert _code_owner(database, activated["public_id"]) is None
    assert len(outbox(database, customer.email, "verify_email")) == 1


def test_a_wrong_password_is_refused_and_links_nothing(
    api: httpx.Client, make_account: MakeAccount, make_code: MakeCode, database: Database
) -> None:
    customer = make_account()
    _, activated, fingerprint = _activated(api, make_code)
    wrong = Customer(customer.id, customer.email, "not the password at all")

    response = link(api, wrong, activated["license_key"], fingerprint)

    assert_problem(response, 401, "invalid_credentials")
    assert _code_owner(database, activated["public_id"]) is None


# --- connecting a device by code (F10) ------------------------------------------------------


def _authorize(
    api: httpx.Client, fingerprint: str, license_keys: list[str] | None = None
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "fingerprint": fingerprint,
        "name": "Office PC",
        "platform": "windows",
    }
    if license_keys is not None:
        request["license_keys"] = license_keys  # the proof of possession (test_device_proof.py)
    response = api.post("/api/v1/device/authorize", json=request)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _poll(api: httpx.Client, device_code: str) -> httpx.Response:
    return api.post("/api/v1/device/token", json={"device_code": device_code})


def test_a_device_connects_once_the_customer_enters_its_code(
    api: httpx.Client,
    make_account: MakeAccount,
    make_code: MakeCode,
    database: Database,
    settings: Settings,
    open_unit: OpenUnit,
) -> None:
    customer = make_account()
    _, activated, fingerprint = _activated(api, make_code)
    started = _authorize(api, fingerprint, [activated["license_key"]])
    assert re.fullmatch(r"[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}", started["user_code"])
    assert started["verification_uri"] == settings.base_url + "/account/connect"
    assert started["expires_in"] > 0
    assert started["interval"] > 0

    assert_problem(_poll(api, started["device_code"]), 400, "authorization_pending")

    with open_unit() as unit:
        account = unit.session.get_one(Account, customer.id)
        linked = unit.connect.approve(account, started["user_code"])
    assert [each.public_id for each in linked] == [activated["public_id"]]

    connected = _poll(api, started["device_code"])
    assert connected.status_code == 200, connected.text
    body = connected.json()
    assert body["status"] == "connected"
    assert body["licenses_linked"] == [activated["public_id"]]
    assert customer.email not in body["account"]  # partly hidden
    assert body["account"].endswith("@example.com")
    assert _code_owner(database, activated["public_id"]) == customer.id
    # The device code is spent: polling again does not connect a second time.
    assert_problem(_poll(api, started["device_code"]), 410, "device_code_expired")


def test_an_expired_device_code_is_gone(api: httpx.Client, clock: Clock) -> None:
    started = _authorize(api, secrets.token_hex(16))

    clock.advance(timedelta(seconds=started["expires_in"] + 1))

    assert_problem(_poll(api, started["device_code"]), 410, "device_code_expired")


def test_an_unknown_device_code_is_gone(api: httpx.Client) -> None:
    assert_problem(_poll(api, secrets.token_urlsafe(32)), 410, "device_code_expired")
