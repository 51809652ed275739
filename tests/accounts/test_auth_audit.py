"""Authentication events are audited (issue 11, item 13): failures, throttles, sign-ins,
resets, revoked sessions; by the visitor's address before sign-in, with the account as
subject when there is one, and never the plain email of an unknown address."""

from __future__ import annotations

import httpx

from licensor.db import Database
from licensor.keys import Keyring
from tests.accounts.factories import (
    PASSWORD,
    MakeAccount,
    OpenBrowser,
    fresh_email,
    link_in_mail,
    outbox,
)
from tests.limits import StartLimitedServer
from tests.support import audit_events


def test_sign_in_failures_sign_ins_and_revoked_sessions_are_audited(
    database: Database, keyring: Keyring, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = make_account()
    unknown = fresh_email("nobody")
    visitor = form_browser()
    visitor.post("/sign-in", {"email": customer.email, "password": "not the password, no"})
    visitor.post("/sign-in", {"email": unknown, "password": "not the password, no"})
    visitor.sign_in(customer)
    visitor.post(
        "/account/settings/password",
        {"current_password": PASSWORD, "new_password": "another fine long password"},
    )
    visitor.post("/sign-out")
    visitor.post("/reset-password", {"email": customer.email})
    (mail,) = outbox(database, customer.email, "reset_password")
    token = link_in_mail(keyring, mail, "/reset-password/choose").split("token=")[1]
    visitor.post("/reset-password/choose", {"token": token, "password": "and a third one now"})

    rows = [row for row in audit_events(database) if row.action != "accounts.created"]

    by_action = [(row.action, row.actor, row.subject_type, row.subject_id) for row in rows]
    web = "web:127.0.0.1"
    owner = f"account:{customer.id}"
    assert by_action == [
        ("accounts.sign_in_failed", web, "account", customer.id),
        ("accounts.sign_in_failed", web, "email", None),
        ("accounts.signed_in", web, "account", customer.id),
        ("accounts.password_changed", owner, "account", customer.id),
        ("accounts.sessions_revoked", owner, "account", customer.id),
        ("accounts.sessions_revoked", web, "account", customer.id),
        ("accounts.password_reset_requested", web, "account", customer.id),
        ("accounts.password_changed", owner, "account", customer.id),
        ("accounts.sessions_revoked", owner, "account", customer.id),
        ("accounts.password_reset_completed", web, "account", customer.id),
    ]
    failed_known, failed_unknown = rows[0], rows[1]
    assert failed_known.details["stage"] == failed_unknown.details["stage"] == "password"
    assert len(failed_unknown.details["email_hash"]) == 32
    assert failed_unknown.details["email_hash"] != failed_known.details["email_hash"]
    reasons = [row.details.get("reason") or row.reason for row in rows[4:6] + rows[8:9]]
    assert reasons == ["password_changed", "sign_out", "reset"]
    for row in rows:
        assert unknown not in f"{row.actor} {row.details} {row.reason}", row.action
        assert customer.email not in f"{row.details}", row.action


def test_a_throttled_attempt_is_audited_by_the_address_it_came_from(
    database: Database,
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
) -> None:
    customer = make_account()
    with limited_server() as server:
        attacker = form_browser(
            server.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")
        )
        for _ in range(11):
            attacker.post("/sign-in", {"email": customer.email, "password": "a wrong guess here"})

    throttled = audit_events(database, "accounts.sign_in_throttled")
    failed = audit_events(database, "accounts.sign_in_failed")
    assert len(failed) == 10
    (row,) = throttled
    assert (row.actor, row.subject_type, row.subject_id) == (
        "web:127.0.0.2",
        "account",
        customer.id,
    )
    assert row.details["locked"] is False
    assert row.details["retry_after"] > 0
