"""No form or endpoint tells whether an email has an account: not by status, not by body,
not by timing (a password hash is computed or verified in both branches)."""

from __future__ import annotations

import html
import itertools
import re
import secrets
import statistics
import time
from collections.abc import Callable

import httpx
import pytest

from licensor.db import Database
from tests.accounts.factories import (
    Customer,
    MakeAccount,
    OpenBrowser,
    fresh_email,
    outbox,
)
from tests.support import assert_problem

ROUNDS = 15
# Generous: the point is that argon2 runs in both branches (tens of milliseconds), not that
# the two are equal to the microsecond on a busy test machine.
SLOWEST_RATIO = 2.0

_CSRF_VALUE = re.compile(r'(name="csrf_token" value=")[^"]*(")')


def _unknown_email() -> str:
    return fresh_email("nobody")


def _answer(response: httpx.Response, *echoed: str) -> tuple[int, str, list[str], str]:
    """What a visitor sees, but for per-request tokens and what the visitor typed."""
    body = _CSRF_VALUE.sub(r"\1TOKEN\2", response.text)
    for value in echoed:
        body = body.replace(html.escape(value), "ECHOED")
    cookies = [header.split("=", 1)[0] for header in response.headers.get_list("set-cookie")]
    return response.status_code, response.headers["content-type"], cookies, body


def _medians(
    first: Callable[[], httpx.Response], second: Callable[[], httpx.Response]
) -> tuple[float, float]:
    """Median seconds of each request over alternating rounds (after one warm-up each)."""
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(ROUNDS):
        for request, spent in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            request()
            spent.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def _assert_same_time(known: float, unknown: float) -> None:
    ratio = known / unknown
    assert 1 / SLOWEST_RATIO <= ratio <= SLOWEST_RATIO, (
        f"known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms"
    )


# --- sign-in --------------------------------------------------------------------------------


def test_sign_in_answers_a_wrong_password_and_an_unknown_email_identically(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    customer = make_account()
    visitor = form_browser()
    unknown = _unknown_email()

    wrong_password = visitor.post(
        "/sign-in", {"email": customer.email, "password": "not the password at all"}
    )
    no_account = visitor.post("/sign-in", {"email": unknown, "password": "not the password at all"})

    assert wrong_password.status_code == 401
    assert _answer(wrong_password, customer.email) == _answer(no_account, unknown)


def _taking_turns(emails: list[str]) -> Callable[[], str]:
    """The emails in turn: each takes few enough failures that none is throttled (ten
    failures of one email from one address are, whether it has an account or not)."""
    turns = itertools.cycle(emails)
    return lambda: next(turns)


@pytest.mark.real_password_cost  # the hash is what both branches must spend alike
def test_sign_in_takes_as_long_for_an_unknown_email_as_for_a_wrong_password(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    known_emails = _taking_turns([make_account().email for _ in range(4)])
    visitor = form_browser()
    token = visitor.csrf_token()

    def attempt(email: Callable[[], str]) -> Callable[[], httpx.Response]:
        def post() -> httpx.Response:
            response = visitor.post(
                "/sign-in", {"email": email(), "password": "wrong guess!"}, token=token
            )
            assert response.status_code == 401
            return response

        return post

    known, unknown = _medians(attempt(known_emails), attempt(_unknown_email))

    _assert_same_time(known, unknown)


# --- sign-up --------------------------------------------------------------------------------


def test_sign_up_answers_a_new_and_a_taken_email_identically(
    form_browser: OpenBrowser, make_account: MakeAccount, database: Database
) -> None:
    customer = make_account()
    visitor = form_browser()
    new_email = _unknown_email()

    taken = visitor.post("/sign-up", {"email": customer.email, "password": "a fine new password"})
    new = visitor.post("/sign-up", {"email": new_email, "password": "a fine new password"})

    assert taken.status_code == 200
    assert _answer(taken, customer.email) == _answer(new, new_email)
    # Each address's owner learns what happened; the visitor learns nothing.
    assert outbox(database, customer.email, "sign_up_existing")
    assert outbox(database, new_email, "verify_email")


@pytest.mark.real_password_cost  # the hash is what both branches must spend alike
def test_sign_up_takes_as_long_for_a_taken_email_as_for_a_new_one(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    customer = make_account()
    visitor = form_browser()
    token = visitor.csrf_token("/sign-up")

    def sign_up(email: Callable[[], str]) -> Callable[[], httpx.Response]:
        def post() -> httpx.Response:
            response = visitor.post(
                "/sign-up", {"email": email(), "password": "a fine new password"}, token=token
            )
            assert response.status_code == 200
            return response

        return post

    taken, new = _medians(sign_up(lambda: customer.email), sign_up(_unknown_email))

    _assert_same_time(taken, new)


# --- password reset ---------------------------------------------------------------------------


def test_reset_answers_a_known_and_an_unknown_email_identically(
    form_browser: OpenBrowser, make_account: MakeAccount, database: Database
) -> None:
    customer = make_account()
    visitor = form_browser()
    unknown = _unknown_email()

    known_answer = visitor.post("/reset-password", {"email": customer.email})
    unknown_answer = visitor.post("/reset-password", {"email": unknown})

    assert known_answer.status_code == 200
    assert _answer(known_answer, customer.email) == _answer(unknown_answer, unknown)
    assert outbox(database, customer.email, "reset_password")
    assert outbox(database, unknown, "reset_no_account")


@pytest.mark.real_password_cost  # the hash is what both branches must spend alike
def test_reset_takes_as_long_for_an_unknown_email_as_for_a_known_one(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    customer = make_account()
    visitor = form_browser()
    token = visitor.csrf_token("/reset-password")

    def reset(email: str) -> Callable[[], httpx.Response]:
        def post() -> httpx.Response:
            response = visitor.post("/reset-password", {"email": email}, token=token)
            assert response.status_code == 200
            return response

        return post

    known, unknown = _medians(reset(customer.email), reset(_unknown_email()))

    _assert_same_time(known, unknown)


# --- the link API -------------------------------------------------------------------------------


def _link_attempt(api: httpx.Client, email: str) -> httpx.Response:
    return api.post(
        "/api/v1/account/licenses",
        json={
            "email": email,
            "password": "not the password at all",
            "license_key": "0" * 32,
            "fingerprint": secrets.token_hex(16),
        },
    )


def test_the_link_api_answers_an_unknown_email_and_a_wrong_password_identically(
    api: httpx.Client, make_account: MakeAccount
) -> None:
    customer: Customer = make_account()

    wrong_password = _link_attempt(api, customer.email)
    no_account = _link_attempt(api, _unknown_email())

    assert_problem(wrong_password, 401, "invalid_credentials")
    assert wrong_password.json() == no_account.json()
    assert _answer(wrong_password) == _answer(no_account)


@pytest.mark.real_password_cost  # the hash is what both branches must spend alike
def test_the_link_api_takes_as_long_for_an_unknown_email_as_for_a_wrong_password(
    api: httpx.Client, make_account: MakeAccount
) -> None:
    known_emails = _taking_turns([make_account().email for _ in range(4)])

    def attempt(email: Callable[[], str]) -> Callable[[], httpx.Response]:
        def post() -> httpx.Response:
            response = _link_attempt(api, email())
            assert response.status_code == 401
            return response

        return post

    known, no_account = _medians(attempt(known_emails), attempt(_unknown_email))

    _assert_same_time(known, no_account)
