"""My Account settings: change of email (the old address is told), language. (Two-factor
settings: test_two_factor.py.)"""

from __future__ import annotations

from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from tests.accounts.factories import (
    PASSWORD,
    TOTP_SECRET,
    MakeAccount,
    OpenBrowser,
    link_in_mail,
    next_two_factor_code,
    outbox,
    two_factor_code,
)


def test_a_new_email_takes_effect_when_confirmed_and_the_old_address_is_told(
    database: Database, keyring: Keyring, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = make_account()
    visitor = form_browser()
    visitor.sign_in(customer)
    wrong = visitor.post(
        "/account/settings/email", {"new_email": "new@example.com", "password": "not it at all"}
    )
    assert wrong.status_code == 422
    assert "This password is not correct." in wrong.text
    assert outbox(database, "new@example.com") == []

    asked = visitor.post(
        "/account/settings/email", {"new_email": "New@Example.com", "password": PASSWORD}
    )
    assert asked.status_code == 200
    assert not visitor.post(
        "/sign-in", {"email": "new@example.com", "password": PASSWORD}
    ).is_redirect, "the change waits for the confirmation"

    (confirmation,) = outbox(database, "new@example.com", "email_change_confirm")
    token = link_in_mail(keyring, confirmation, "/account/email/confirm").split("token=")[1]
    assert visitor.post("/account/email/confirm", {"token": token}).status_code == 200

    (notice,) = outbox(database, customer.email, "email_changed_notice")
    text, _ = bodies(keyring, notice)
    assert "new@example.com" in text
    fresh = form_browser()
    assert fresh.post("/sign-in", {"email": "new@example.com", "password": PASSWORD}).is_redirect
    assert (
        fresh.post("/sign-in", {"email": customer.email, "password": PASSWORD}).status_code == 401
    )
    assert visitor.post("/account/email/confirm", {"token": token}).status_code == 400


def test_the_language_chosen_in_settings_is_used_for_pages_and_mail(
    database: Database, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    customer = make_account()
    visitor = form_browser()
    visitor.sign_in(customer)
    assert visitor.post("/account/settings/language", {"language": "it"}).status_code == 303
    assert '<html lang="it">' in visitor.get("/account/licenses").text
    visitor.post(
        "/account/settings/password",
        {"current_password": PASSWORD, "new_password": "another long password"},
    )
    (changed,) = outbox(database, customer.email, "password_changed")
    assert changed.language == "it"
    assert changed.subject == "La tua password è stata cambiata"


def test_moving_the_email_of_an_account_with_two_factor_needs_its_code_too(
    database: Database, clock: Clock, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    """Resets are mailed to the account's email, so moving it moves the account: with
    two-factor on, the password alone (a stolen session that guessed or knew it) is not
    enough."""
    customer = make_account(totp_secret=TOTP_SECRET)
    visitor = form_browser()
    visitor.sign_in(customer)
    code = two_factor_code(TOTP_SECRET, clock)
    assert visitor.post("/sign-in/two-factor", {"code": code}).is_redirect
    assert 'name="email_code"' in visitor.get("/account/settings").text
    new_email = "moved@example.com"

    password_only = visitor.post(
        "/account/settings/email", {"new_email": new_email, "password": PASSWORD}
    )
    wrong_code = visitor.post(
        "/account/settings/email",
        {"new_email": new_email, "password": PASSWORD, "email_code": "12345"},
    )
    assert password_only.status_code == wrong_code.status_code == 422
    assert "one of your recovery codes" in password_only.text
    assert outbox(database, new_email) == []

    code = next_two_factor_code(TOTP_SECRET, clock)
    asked = visitor.post(
        "/account/settings/email",
        {"new_email": new_email, "password": PASSWORD, "email_code": code},
    )

    assert asked.status_code == 200
    assert len(outbox(database, new_email, "email_change_confirm")) == 1
