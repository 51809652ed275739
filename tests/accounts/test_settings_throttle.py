"""Settings forms that check the password or a second factor are throttled as sign-in is
(issue 11, items 3 and 4, after review): a signed-in session is no licence to guess.

Per (account, address) pair and per account, sharing sign-in's count; a throttled try is
answered without checking anything, however right; every wrong password or code is
audited (``accounts.sign_in_failed``, stage ``settings``); the owner's right answer from
their own session works once the wait is over. The limiter's own clock
(``LimiterTime``) moves time on; the server's clock moves TOTP codes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from licensor.accounts import totp
from licensor.clock import Clock
from licensor.db import Database
from tests.accounts.factories import (
    PASSWORD,
    SESSION_COOKIE,
    TOTP_SECRET,
    Browser,
    Customer,
    MakeAccount,
    OpenBrowser,
    browser_from,
    next_two_factor_code,
    outbox,
    two_factor_code,
)
from tests.limits import StartLimitedServer
from tests.support import audit_events

NEW_SECRET = "KRUGS4ZANFZSAYJAONSWG4TFOQQGC4DQ"
GUESS = "a guessed password, wrong"
NEW_PASSWORD = "a brand new password, long enough"
NEW_EMAIL = "moved.elsewhere@example.com"


def wrong_code(secret: str, clock: Clock) -> str:
    """Six digits that are no code of the secret near now."""
    step = totp.step_of(clock.now())
    near = {totp.code_at(secret, step + drift) for drift in range(-3, 4)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)


def sign_in(visitor: Browser, owner: Customer, clock: Clock, two_factor: bool) -> None:
    visitor.sign_in(owner)
    if two_factor:
        second = visitor.post("/sign-in/two-factor", {"code": two_factor_code(TOTP_SECRET, clock)})
        assert second.status_code == 303, second.text
    assert visitor.signed_in()


Fields = Callable[[Clock], dict[str, str]]


@dataclass(frozen=True)
class SettingsForm:
    path: str
    name: str  # as the audit rows name it
    two_factor: bool  # whether the account has two-factor on
    wrong: Fields  # a wrong password or code (the rest right)
    right: Fields
    done: str  # on the page once the right answer went through
    mail: tuple[str | None, str]  # (recipient, None: the owner; template) of the change


FORMS = {
    "turn_on": SettingsForm(
        "/account/settings/two-factor",
        "two_factor_enrol",
        False,
        lambda clock: {
            "secret": NEW_SECRET,
            "enrol_password": GUESS,
            "enrol_code": two_factor_code(NEW_SECRET, clock),
        },
        lambda clock: {
            "secret": NEW_SECRET,
            "enrol_password": PASSWORD,
            "enrol_code": two_factor_code(NEW_SECRET, clock),
        },
        "Save your recovery codes",
        (None, "two_factor_changed"),
    ),
    "move": SettingsForm(
        "/account/settings/two-factor",
        "two_factor_enrol",
        True,
        lambda clock: {
            "secret": NEW_SECRET,
            "enrol_password": PASSWORD,
            "enrol_current_code": wrong_code(TOTP_SECRET, clock),
            "enrol_code": two_factor_code(NEW_SECRET, clock),
        },
        lambda clock: {
            "secret": NEW_SECRET,
            "enrol_password": PASSWORD,
            "enrol_current_code": next_two_factor_code(TOTP_SECRET, clock),
            "enrol_code": two_factor_code(NEW_SECRET, clock),
        },
        "Save your recovery codes",
        (None, "two_factor_changed"),
    ),
    "recovery_codes": SettingsForm(
        "/account/settings/two-factor/recovery-codes",
        "recovery_codes",
        True,
        lambda clock: {"codes_password": PASSWORD, "codes_code": wrong_code(TOTP_SECRET, clock)},
        lambda clock: {
            "codes_password": PASSWORD,
            "codes_code": next_two_factor_code(TOTP_SECRET, clock),
        },
        "Save your recovery codes",
        (None, "two_factor_changed"),
    ),
    "turn_off": SettingsForm(
        "/account/settings/two-factor/disable",
        "two_factor_disable",
        True,
        lambda clock: {
            "disable_password": PASSWORD,
            "disable_code": wrong_code(TOTP_SECRET, clock),
        },
        lambda clock: {
            "disable_password": PASSWORD,
            "disable_code": next_two_factor_code(TOTP_SECRET, clock),
        },
        "Two-factor sign-in is off.",
        (None, "two_factor_changed"),
    ),
    "password": SettingsForm(
        "/account/settings/password",
        "password",
        False,
        lambda clock: {"current_password": GUESS, "new_password": NEW_PASSWORD},
        lambda clock: {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        "Your password was changed.",
        (None, "password_changed"),
    ),
    "email_password": SettingsForm(
        "/account/settings/email",
        "email",
        False,
        lambda clock: {"new_email": NEW_EMAIL, "password": GUESS},
        lambda clock: {"new_email": NEW_EMAIL, "password": PASSWORD},
        "We have sent a link to the new address.",
        (NEW_EMAIL, "email_change_confirm"),
    ),
    "email_code": SettingsForm(
        "/account/settings/email",
        "email",
        True,
        lambda clock: {
            "new_email": NEW_EMAIL,
            "password": PASSWORD,
            "email_code": wrong_code(TOTP_SECRET, clock),
        },
        lambda clock: {
            "new_email": NEW_EMAIL,
            "password": PASSWORD,
            "email_code": next_two_factor_code(TOTP_SECRET, clock),
        },
        "We have sent a link to the new address.",
        (NEW_EMAIL, "email_change_confirm"),
    ),
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_wrong_answers_on_a_settings_form_are_throttled_audited_and_the_owner_gets_through_later(
    form: SettingsForm,
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    database: Database,
    clock: Clock,
) -> None:
    owner = make_account(totp_secret=TOTP_SECRET if form.two_factor else None)
    recipient, template = form.mail
    with limited_server() as server:
        visitor = form_browser(server.url)
        sign_in(visitor, owner, clock, form.two_factor)

        wrong = [visitor.post(form.path, form.wrong(clock)) for _ in range(10)]
        held = visitor.post(form.path, form.right(clock))  # the 11th: not even checked
        assert held.status_code == 429
        changed_while_held = len(outbox(database, recipient or owner.email, template))
        server.limiter_time.now += int(held.headers["retry-after"])
        done = visitor.post(form.path, form.right(clock))

    assert [answer.status_code for answer in wrong] == [422] * 10
    assert "too many wrong passwords or codes" in held.text
    assert changed_while_held == 0, "a throttled try changes nothing, right answer or not"
    assert done.status_code == 200, done.text
    assert form.done in done.text
    assert len(outbox(database, recipient or owner.email, template)) == 1
    failed = audit_events(database, "accounts.sign_in_failed")
    assert len(failed) == 10
    for row in failed:
        assert (row.subject_type, row.subject_id) == ("account", owner.id)
        assert row.details["stage"] == "settings"
        assert row.details["form"] == form.name
    (throttled,) = audit_events(database, "accounts.sign_in_throttled")
    assert (throttled.subject_id, throttled.details["stage"]) == (owner.id, "settings")


def test_a_stolen_session_guessing_codes_from_many_addresses_is_slowed_for_the_account(
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    database: Database,
    clock: Clock,
) -> None:
    """The review's attack: from one signed-in session, code after code on the form that
    turns two-factor off (the password is known). Each address is held after ten; the
    account, after eleven in a row, waits a growing delay whatever the address, the
    owner's own session included; once it is over, the owner's right answer works."""
    owner = make_account(totp_secret=TOTP_SECRET)
    path = "/account/settings/two-factor/disable"
    with limited_server() as server:
        mine = form_browser(server.url)
        sign_in(mine, owner, clock, two_factor=True)
        thieves = [browser_from(form_browser, server.url, f"127.0.0.{host}") for host in (2, 3)]
        for thief in thieves:
            thief.client.cookies.set(SESSION_COOKIE, mine.session_token or "")

        def guess(visitor: Browser) -> httpx.Response:
            return visitor.post(
                path, {"disable_password": PASSWORD, "disable_code": wrong_code(TOTP_SECRET, clock)}
            )

        first_ten = [guess(thieves[0]) for _ in range(10)]
        eleventh = guess(thieves[1])
        twelfth = guess(thieves[1])
        owner_waits = mine.post(
            path,
            {
                "disable_password": PASSWORD,
                "disable_code": next_two_factor_code(TOTP_SECRET, clock),
            },
        )
        assert owner_waits.status_code == 429
        server.limiter_time.now += int(owner_waits.headers["retry-after"])
        owner_done = mine.post(
            path,
            {
                "disable_password": PASSWORD,
                "disable_code": next_two_factor_code(TOTP_SECRET, clock),
            },
        )

    assert [answer.status_code for answer in first_ten] == [422] * 10
    assert eleventh.status_code == 422
    assert twelfth.status_code == 429, "the account's delay, from a fresh address"
    assert owner_waits.headers["retry-after"] == "1"
    assert owner_done.status_code == 200
    assert "Two-factor sign-in is off." in owner_done.text
    failed = audit_events(database, "accounts.sign_in_failed")
    assert [row.actor for row in failed] == ["web:127.0.0.2"] * 10 + ["web:127.0.0.3"]
    assert {row.details["fields"][0] for row in failed} == {"code"}
