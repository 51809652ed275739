"""Two-factor sign-in: turning it on, moving it to a new app and turning it off all need
the password and the current second factor, each is mailed and audited; recovery codes
sign in once; staff set up their second factor before anything else opens."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx

from licensor.accounts import totp
from licensor.accounts.two_factor import qr_svg
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import AuditEvent
from tests.accounts.factories import (
    PASSWORD,
    TOTP_SECRET,
    Browser,
    Customer,
    MakeAccount,
    OpenBrowser,
    next_two_factor_code,
    outbox,
    two_factor_code,
)
from tests.support import audit_events

_SECRET_SHOWN = re.compile(r'<code class="secret">([A-Z2-7]+)</code>')
_RECOVERY_CODE = re.compile(r'<code class="secret">([0-9A-Z]{5}-[0-9A-Z]{5})</code>')


def audited(database: Database, action: str, account_id: int) -> list[AuditEvent]:
    """The account's audit rows of one action, oldest first."""
    return [event for event in audit_events(database, action) if event.subject_id == account_id]


def mail_kinds(database: Database, keyring: Keyring, email: str) -> list[str]:
    """The first line after the greeting of each two_factor_changed mail, in order."""
    return [
        bodies(keyring, message)[0].split("\n\n")[1]
        for message in outbox(database, email, "two_factor_changed")
    ]


def shown_secret(page: httpx.Response) -> str:
    match = _SECRET_SHOWN.search(page.text)
    assert match, "the secret is shown as text"
    return match.group(1)


def enrol(visitor: Browser, clock: Clock, password: str = PASSWORD) -> tuple[str, list[str]]:
    """Turn two-factor on from the settings page: the secret and the recovery codes."""
    secret = shown_secret(visitor.get("/account/settings"))
    answer = visitor.post(
        "/account/settings/two-factor",
        {
            "secret": secret,
            "enrol_password": password,
            "enrol_code": two_factor_code(secret, clock),
        },
    )
    assert answer.status_code == 200, answer.text
    return secret, _RECOVERY_CODE.findall(answer.text)


def sign_in_with(
    open_browser: OpenBrowser, customer: Customer, code: str
) -> tuple[Browser, httpx.Response]:
    visitor = open_browser()
    first = visitor.sign_in(customer)
    assert first.headers["location"].startswith("/sign-in/two-factor")
    return visitor, visitor.post("/sign-in/two-factor", {"code": code})


# --- turning it on ------------------------------------------------------------------------------


def test_turning_two_factor_on_needs_the_password_and_a_code_and_is_mailed_and_audited(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    customer = make_account()
    visitor = form_browser()
    visitor.sign_in(customer)
    secret = shown_secret(visitor.get("/account/settings"))
    code = two_factor_code(secret, clock)

    without_password = visitor.post(
        "/account/settings/two-factor", {"secret": secret, "enrol_code": code}
    )
    wrong_password = visitor.post(
        "/account/settings/two-factor",
        {"secret": secret, "enrol_password": "not my password at all", "enrol_code": code},
    )
    wrong_code = visitor.post(
        "/account/settings/two-factor",
        {"secret": secret, "enrol_password": PASSWORD, "enrol_code": "000000"},
    )
    for refused in (without_password, wrong_password):
        assert refused.status_code == 422
        assert "This password is not correct." in refused.text
    assert wrong_code.status_code == 422
    assert "This code is not correct" in wrong_code.text
    assert outbox(database, customer.email, "two_factor_changed") == []
    assert audited(database, "accounts.two_factor_enrolled", customer.id) == []

    turned_on = visitor.post(
        "/account/settings/two-factor",
        {"secret": secret, "enrol_password": PASSWORD, "enrol_code": code},
    )

    assert turned_on.status_code == 200
    assert turned_on.headers["cache-control"] == "no-store", "recovery codes are never cached"
    codes = _RECOVERY_CODE.findall(turned_on.text)
    assert len(set(codes)) == 10
    (mail,) = outbox(database, customer.email, "two_factor_changed")
    assert mail.subject == "Two-factor sign-in is on"
    assert "If this was not you" in bodies(keyring, mail)[0]
    (event,) = audited(database, "accounts.two_factor_enrolled", customer.id)
    assert event.actor == f"account:{customer.id}"
    # The password alone no longer signs in.
    _, second = sign_in_with(form_browser, customer, next_two_factor_code(secret, clock))
    assert second.status_code == 303


def test_the_qr_code_is_inline_svg_that_segno_made_from_the_uri_of_the_secret_shown(
    settings: Settings, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = make_account()
    visitor = form_browser()
    visitor.sign_in(customer)

    page = visitor.get("/account/settings")

    secret = shown_secret(page)
    uri = totp.provisioning_uri(secret, customer.email, settings.product_name)
    svg = qr_svg(uri)
    assert svg.startswith("<svg")
    assert "<path" in svg
    assert svg in page.text, "the QR code of this very secret, inline"
    for forbidden in ("data:", "<script", "style="):  # each refused by the pages' CSP
        assert forbidden not in svg
    assert f'href="{html.escape(uri)}"' in page.text
    assert page.headers["cache-control"] == "no-store", "the page shows a secret"
    # Each visit offers a new secret, so the QR code changes with it.
    assert shown_secret(visitor.get("/account/settings")) != secret


# --- replacing and turning off ----------------------------------------------------------------


def test_moving_two_factor_to_a_new_app_needs_the_current_code(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    customer = make_account(totp_secret=TOTP_SECRET)
    visitor, signed_in = sign_in_with(form_browser, customer, two_factor_code(TOTP_SECRET, clock))
    assert signed_in.status_code == 303
    new_secret = shown_secret(visitor.get("/account/settings"))
    fields = {
        "secret": new_secret,
        "enrol_password": PASSWORD,
        "enrol_code": two_factor_code(new_secret, clock),
    }

    without_current = visitor.post("/account/settings/two-factor", fields)
    wrong_current = visitor.post(
        "/account/settings/two-factor", {**fields, "enrol_current_code": "123456"}
    )
    assert without_current.status_code == wrong_current.status_code == 422
    assert "one of your recovery codes" in wrong_current.text
    assert audited(database, "accounts.two_factor_replaced", customer.id) == []

    # A later step: the new app's code is taken anew.
    current = next_two_factor_code(TOTP_SECRET, clock)
    moved = visitor.post(
        "/account/settings/two-factor",
        {**fields, "enrol_code": two_factor_code(new_secret, clock), "enrol_current_code": current},
    )

    assert moved.status_code == 200
    assert len(_RECOVERY_CODE.findall(moved.text)) == 10
    assert len(audited(database, "accounts.two_factor_replaced", customer.id)) == 1
    assert "moved to a new authenticator app" in mail_kinds(database, keyring, customer.email)[0]
    clock.advance(timedelta(seconds=2 * totp.STEP_SECONDS))
    _, old_app = sign_in_with(form_browser, customer, two_factor_code(TOTP_SECRET, clock))
    assert old_app.status_code == 401, "the old app's codes no longer sign in"
    _, new_app = sign_in_with(form_browser, customer, two_factor_code(new_secret, clock))
    assert new_app.status_code == 303


def test_turning_two_factor_off_needs_the_password_and_a_code(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    customer = make_account(totp_secret=TOTP_SECRET)
    visitor, _ = sign_in_with(form_browser, customer, two_factor_code(TOTP_SECRET, clock))
    code = next_two_factor_code(TOTP_SECRET, clock)

    password_only = visitor.post(
        "/account/settings/two-factor/disable", {"disable_password": PASSWORD}
    )
    code_only = visitor.post("/account/settings/two-factor/disable", {"disable_code": code})
    assert password_only.status_code == code_only.status_code == 422
    assert audited(database, "accounts.two_factor_disabled", customer.id) == []

    turned_off = visitor.post(
        "/account/settings/two-factor/disable",
        {"disable_password": PASSWORD, "disable_code": code},
    )

    assert turned_off.status_code == 200
    assert "Two-factor sign-in is off." in turned_off.text
    assert len(audited(database, "accounts.two_factor_disabled", customer.id)) == 1
    assert "turned off" in mail_kinds(database, keyring, customer.email)[0]
    password_alone = form_browser()
    assert password_alone.sign_in(customer).headers["location"] == "/account/licenses"


def test_staff_cannot_turn_two_factor_off(
    clock: Clock, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    agent = make_account(roles=("agent",), totp_secret=TOTP_SECRET)
    visitor, _ = sign_in_with(form_browser, agent, two_factor_code(TOTP_SECRET, clock))
    assert "Turn off two-factor sign-in" not in visitor.get("/account/settings").text

    refused = visitor.post(
        "/account/settings/two-factor/disable",
        {"disable_password": PASSWORD, "disable_code": next_two_factor_code(TOTP_SECRET, clock)},
    )

    assert refused.status_code == 422
    assert "required for staff accounts" in refused.text


# --- recovery codes ---------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once_and_not_twice(
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    customer = make_account()
    owner = form_browser()
    owner.sign_in(customer)
    _, codes = enrol(owner, clock)

    visitor, first = sign_in_with(form_browser, customer, codes[3].lower().replace("-", " "))
    _, second = sign_in_with(form_browser, customer, codes[3])

    assert first.status_code == 303
    assert visitor.signed_in()
    assert second.status_code == 401, "a recovery code works once"
    (used,) = audited(database, "accounts.recovery_code_used", customer.id)
    assert used.details["remaining"] == 9
    (mail,) = [
        message
        for message in outbox(database, customer.email, "two_factor_changed")
        if message.subject == "A recovery code was used to sign in"
    ]
    assert "9 are left" in bodies(keyring, mail)[0]


def test_new_recovery_codes_need_the_password_and_a_code_and_cancel_the_old_ones(
    database: Database, clock: Clock, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = make_account()
    owner = form_browser()
    owner.sign_in(customer)
    secret, old_codes = enrol(owner, clock)

    refused = owner.post(
        "/account/settings/two-factor/recovery-codes",
        {
            "codes_password": "not my password at all",
            "codes_code": next_two_factor_code(secret, clock),
        },
    )
    assert refused.status_code == 422
    made = owner.post(
        "/account/settings/two-factor/recovery-codes",
        {"codes_password": PASSWORD, "codes_code": next_two_factor_code(secret, clock)},
    )

    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    new_codes = _RECOVERY_CODE.findall(made.text)
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    assert len(audited(database, "accounts.recovery_codes_regenerated", customer.id)) == 1
    _, old = sign_in_with(form_browser, customer, old_codes[0])
    _, new = sign_in_with(form_browser, customer, new_codes[0])
    assert (old.status_code, new.status_code) == (401, 303)


# --- staff: enrolment at the first sign-in ------------------------------------------------------


def test_a_new_agent_is_taken_through_enrolment_and_reaches_nothing_before(
    database: Database,
    clock: Clock,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    agent = make_account(roles=("agent",))  # as `users create --role agent` makes one
    visitor = form_browser()

    first = visitor.sign_in(agent)

    assert first.headers["location"].startswith("/sign-in/two-factor")
    for path in ("/desk", "/account/licenses", "/account/settings", "/account/devices"):
        held = visitor.get(path)
        assert held.status_code == 303, path
        assert held.headers["location"].startswith("/sign-in/two-factor?next="), path
    step = visitor.get(first.headers["location"])
    assert step.headers["location"].startswith("/sign-in/two-factor/enrol")
    form = visitor.get(step.headers["location"])
    assert form.status_code == 200
    assert "<svg" in form.text
    assert form.headers["cache-control"] == "no-store"
    secret = shown_secret(form)
    refused = visitor.post("/sign-in/two-factor/enrol", {"secret": secret, "code": "000000"})
    assert refused.status_code == 422
    assert visitor.get("/desk").status_code == 303

    enrolled = visitor.post(
        "/sign-in/two-factor/enrol",
        {"secret": secret, "code": two_factor_code(secret, clock), "next": "/desk"},
    )

    assert enrolled.status_code == 200
    assert len(_RECOVERY_CODE.findall(enrolled.text)) == 10
    assert 'href="/desk"' in enrolled.text
    assert visitor.get("/desk").status_code == 200
    assert len(audited(database, "accounts.two_factor_enrolled", agent.id)) == 1
    # From now on the agent signs in with a code, like any enrolled account.
    _, later = sign_in_with(form_browser, agent, next_two_factor_code(secret, clock))
    assert later.status_code == 303


def test_a_pending_session_from_before_two_factor_went_off_cannot_enrol_without_the_password(
    database: Database, clock: Clock, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    """Enrolment at sign-in, without the password, is for staff at their first sign-in only.
    A customer's half-signed-in session opened while two-factor was on (by whoever had the
    password then) must not put its own authenticator on the account once the owner has
    turned two-factor off: it signs in again, and enrols in settings with the password."""
    customer = make_account(totp_secret=TOTP_SECRET)
    pending = form_browser()
    assert pending.sign_in(customer).headers["location"].startswith("/sign-in/two-factor")
    owner, _ = sign_in_with(form_browser, customer, two_factor_code(TOTP_SECRET, clock))
    turned_off = owner.post(
        "/account/settings/two-factor/disable",
        {"disable_password": PASSWORD, "disable_code": next_two_factor_code(TOTP_SECRET, clock)},
    )
    assert turned_off.status_code == 200
    own_secret = totp.new_secret()
    token = pending.csrf_token()

    enrolled = pending.post(
        "/sign-in/two-factor/enrol",
        {"secret": own_secret, "code": two_factor_code(own_secret, clock)},
        token=token,
    )

    assert enrolled.status_code == 303
    assert enrolled.headers["location"] == "/sign-in"
    assert not pending.signed_in()
    assert pending.get("/sign-in/two-factor").headers["location"] == "/sign-in"
    assert audited(database, "accounts.two_factor_enrolled", customer.id) == []
    assert form_browser().sign_in(customer).headers["location"] == "/account/licenses"
