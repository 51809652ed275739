"""Passwords (issue 11, item 8): at least 15 characters without a second factor, 8 with
one, never one on the shipped list of common and breached passwords; the page says why.
A password set before keeps working, and its owner is sent to change it at sign-in."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from licensor.accounts import passwords, totp
from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import Account
from tests.accounts.factories import (
    PASSWORD,
    TOTP_SECRET,
    Customer,
    MakeAccount,
    OpenBrowser,
    link_in_mail,
    outbox,
    two_factor_code,
)

TOO_SHORT = "kestrel-harbor"  # 14 characters, on no list
COMMON = "letmein123"  # long enough with two-factor, but every attacker tries it
SHORT_BUT_RARE = "Qv7#kestrel"  # 11 characters: enough only with a second factor

SHORT_MESSAGE = "This password is too short for your account: use at least 15 characters."
COMMON_MESSAGE = "This password is on a list of common passwords"


def test_the_shipped_list_holds_common_passwords_in_any_case_and_not_ours() -> None:
    for common in ("password123", "PASSWORD123", "qwertyuiop", "LetMeIn123", "PasswordPassword"):
        assert passwords.is_common(common), common
    assert not passwords.is_common(PASSWORD)
    assert not passwords.is_common(SHORT_BUT_RARE)


def test_sign_up_refuses_a_short_or_common_password_and_says_why(
    form_browser: OpenBrowser,
) -> None:
    visitor = form_browser()
    email = "new-customer@example.com"

    short = visitor.post("/sign-up", {"email": email, "password": TOO_SHORT})
    common = visitor.post("/sign-up", {"email": email, "password": "PasswordPassword"})
    fine = visitor.post("/sign-up", {"email": email, "password": PASSWORD})

    assert short.status_code == 422
    assert SHORT_MESSAGE in short.text
    assert common.status_code == 422
    assert COMMON_MESSAGE in common.text
    assert fine.status_code == 200


def test_eight_characters_are_enough_only_with_a_second_factor(
    clock: Clock, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    plain = make_account()
    visitor = form_browser()
    visitor.sign_in(plain)
    refused = visitor.post(
        "/account/settings/password",
        {"current_password": PASSWORD, "new_password": SHORT_BUT_RARE},
    )
    assert refused.status_code == 422
    assert SHORT_MESSAGE in refused.text

    enrolled = make_account(totp_secret=TOTP_SECRET)
    owner = form_browser()
    owner.sign_in(enrolled)
    owner.post("/sign-in/two-factor", {"code": two_factor_code(TOTP_SECRET, clock)})
    too_common = owner.post(
        "/account/settings/password", {"current_password": PASSWORD, "new_password": COMMON}
    )
    accepted = owner.post(
        "/account/settings/password",
        {"current_password": PASSWORD, "new_password": SHORT_BUT_RARE},
    )

    assert too_common.status_code == 422
    assert COMMON_MESSAGE in too_common.text
    assert accepted.status_code == 200
    assert "Your password was changed." in accepted.text


def test_a_reset_applies_the_same_policy(
    database: Database, keyring: Keyring, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = make_account()
    visitor = form_browser()
    visitor.post("/reset-password", {"email": customer.email})
    (mail,) = outbox(database, customer.email, "reset_password")
    link = link_in_mail(keyring, mail, "/reset-password/choose")
    token = link.split("token=")[1]
    assert "At least 15 characters." in visitor.get(link).text

    refused = visitor.post(
        "/reset-password/choose", {"token": token, "password": "qwertyuiopasdfgh"}
    )

    assert refused.status_code == 422
    assert COMMON_MESSAGE in refused.text
    assert (
        visitor.post("/reset-password/choose", {"token": token, "password": PASSWORD}).status_code
        == 200
    )


def _weaken(database: Database, customer: Customer, password: str) -> Customer:
    """Set a password as an earlier policy allowed it: straight into the table."""
    with database.transaction() as session:
        session.execute(
            update(Account)
            .where(Account.id == customer.id)
            .values(password_hash=passwords.hash_password(password))
        )
    return Customer(customer.id, customer.email, password)


def test_a_weak_password_set_before_still_signs_in_and_must_be_changed_first(
    database: Database, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = _weaken(database, make_account(), "sunshine2020")  # 12 characters
    visitor = form_browser()

    signed_in = visitor.sign_in(customer)

    assert signed_in.headers["location"] == "/account/settings#password"
    held = visitor.get("/account/licenses")
    assert held.status_code == 303
    assert held.headers["location"] == "/account/settings#password"
    settings = visitor.get("/account/settings")
    assert settings.status_code == 200
    assert "choose a new one below to continue" in settings.text
    changed = visitor.post(
        "/account/settings/password",
        {"current_password": customer.password, "new_password": PASSWORD},
    )
    assert changed.status_code == 200
    assert "choose a new one below to continue" not in changed.text
    assert visitor.get("/account/licenses").status_code == 200


def test_with_two_factor_the_change_is_asked_for_after_the_code(
    database: Database, clock: Clock, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = _weaken(database, make_account(totp_secret=TOTP_SECRET), "qwerty123")
    visitor = form_browser()
    first = visitor.sign_in(customer)
    assert first.headers["location"].startswith("/sign-in/two-factor")
    assert visitor.get("/account/settings").headers["location"].startswith("/sign-in/two-factor")
    clock.advance(timedelta(seconds=totp.STEP_SECONDS))

    second = visitor.post("/sign-in/two-factor", {"code": two_factor_code(TOTP_SECRET, clock)})

    assert second.headers["location"] == "/account/settings#password"
    assert visitor.get("/account/devices").headers["location"] == "/account/settings#password"
