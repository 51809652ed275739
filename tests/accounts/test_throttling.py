"""Throttling slows the attacker, not the owner (issue 11, item 4).

Wrong passwords are throttled per (email, address) pair and per email with a growing
delay, which the owner's known browser is spared; after 100 failures in a row only a
known browser or a password reset signs in. Unknown emails are throttled exactly like
known ones. Reset requests beyond a few an hour get the same page and no mail. The
server sees 127.0.0.1 for every client, so attackers bind other loopback addresses; the
limiter's own clock (``LimiterTime``) moves time on.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import httpx
import pytest

from licensor.accounts.throttle import DELAY_CAP, FAILURE_LIMIT, FRESH_STATE_SECONDS
from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.ratelimit import RedisRateLimiter
from tests.accounts.factories import (
    TOTP_SECRET,
    Browser,
    Customer,
    MakeAccount,
    OpenBrowser,
    browser_from,
    fresh_email,
    link,
    link_in_mail,
    outbox,
    two_factor_code,
)
from tests.licensing.factories import MakeCode, activate, device
from tests.limits import LimitedServer, LimiterTime, RedisServer, StartLimitedServer
from tests.support import assert_problem, audit_events, serve

GUESS = "a guessed password, wrong"
_CSRF_VALUE = re.compile(r'(name="csrf_token" value=")[^"]*(")')


def guess(visitor: Browser, email: str, password: str = GUESS) -> httpx.Response:
    return visitor.post("/sign-in", {"email": email, "password": password})


def answer(response: httpx.Response, email: str) -> tuple[int, str | None, str]:
    """What a visitor sees, but for per-request tokens and the email typed."""
    body = _CSRF_VALUE.sub(r"\1TOKEN\2", response.text).replace(html.escape(email), "EMAIL")
    return response.status_code, response.headers.get("retry-after"), body


# --- sign-in ------------------------------------------------------------------------------------


def test_ten_wrong_passwords_from_one_address_do_not_lock_the_owner_out_of_another(
    limited_server: StartLimitedServer, form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    owner = make_account()
    with limited_server(signin_rate="10/minute") as server:
        attacker = browser_from(form_browser, server.url, "127.0.0.2")
        for _ in range(10):
            assert guess(attacker, owner.email).status_code == 401

        # The attacker's pair is held, even with the right password: it is not checked.
        held = guess(attacker, owner.email, owner.password)
        assert held.status_code == 429
        assert int(held.headers["retry-after"]) > 0
        owner_browser = browser_from(form_browser, server.url, "127.0.0.3")
        signed_in = guess(owner_browser, owner.email, owner.password)

    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/account/licenses"


def test_the_delay_grows_for_unknown_browsers_and_spares_the_owners_known_browser(
    limited_server: StartLimitedServer, form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    owner = make_account()
    with limited_server() as server:
        known = form_browser(server.url)
        assert guess(known, owner.email, owner.password).status_code == 303
        first = browser_from(form_browser, server.url, "127.0.0.2")
        for _ in range(10):
            assert guess(first, owner.email).status_code == 401
        attacker = browser_from(form_browser, server.url, "127.0.0.3")
        assert guess(attacker, owner.email).status_code == 401  # the 11th in a row

        delays = []
        for _ in range(5):
            held = guess(attacker, owner.email)
            assert held.status_code == 429
            assert "Wait" in held.text
            delays.append(int(held.headers["retry-after"]))
            server.limiter_time.now += delays[-1]
            assert guess(attacker, owner.email).status_code == 401

        new_browser = browser_from(form_browser, server.url, "127.0.0.4")
        refused = guess(new_browser, owner.email, owner.password)
        from_known = guess(known, owner.email, owner.password)

    assert delays == [1, 2, 4, 8, 16]
    assert refused.status_code == 429, "an unknown browser waits, right password or not"
    assert from_known.status_code == 303, "the browser the owner signed in with does not"


def test_after_100_failures_only_a_known_browser_signs_in(
    limited_server: StartLimitedServer, form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    owner = make_account()
    with limited_server() as server:
        known = form_browser(server.url)
        assert guess(known, owner.email, owner.password).status_code == 303
        attackers = [
            browser_from(form_browser, server.url, f"127.0.1.{host}") for host in range(1, 11)
        ]
        for attempt in range(FAILURE_LIMIT):
            server.limiter_time.now += DELAY_CAP  # past any delay: only the count matters
            assert guess(attackers[attempt % 10], owner.email).status_code == 401, attempt

        server.limiter_time.now += DELAY_CAP
        stranger = browser_from(form_browser, server.url, "127.0.2.1")
        refused = guess(stranger, owner.email, owner.password)
        still = guess(stranger, owner.email, owner.password)
        from_known = guess(known, owner.email, owner.password)

    assert refused.status_code == still.status_code == 429
    assert "reset your password" in refused.text
    assert "Wait" not in refused.text, "no waiting ends it"
    assert from_known.status_code == 303


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(
    limited_server: StartLimitedServer, form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    known_email = make_account().email
    unknown_email = fresh_email("nobody")
    seen: dict[str, list[tuple[int, str | None, str]]] = {}
    with limited_server() as server:
        for email in (known_email, unknown_email):
            first = browser_from(form_browser, server.url, "127.0.0.2")
            second = browser_from(form_browser, server.url, "127.0.0.3")
            third = browser_from(form_browser, server.url, "127.0.0.4")
            steps = [guess(first, email) for _ in range(10)]  # 401 each
            steps.append(guess(first, email))  # 429: the pair
            steps.append(guess(second, email))  # 401: the 11th in a row
            steps.append(guess(third, email))  # 429: the delay
            seen[email] = [answer(step, email) for step in steps]

    statuses = [status for status, _, _ in seen[known_email]]
    assert statuses == [401] * 10 + [429, 401, 429]
    assert seen[known_email] == seen[unknown_email]


def test_a_completed_reset_lifts_the_throttle(
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
) -> None:
    owner = make_account()
    with limited_server() as server:
        attackers = [browser_from(form_browser, server.url, f"127.0.0.{host}") for host in (2, 3)]
        for attempt in range(12):
            server.limiter_time.now += DELAY_CAP
            assert guess(attackers[attempt // 10], owner.email).status_code == 401
        owner_browser = browser_from(form_browser, server.url, "127.0.0.5")
        assert guess(owner_browser, owner.email, owner.password).status_code == 429

        assert owner_browser.post("/reset-password", {"email": owner.email}).status_code == 200
        (mail,) = outbox(database, owner.email, "reset_password")
        token = link_in_mail(keyring, mail, "/reset-password/choose").split("token=")[1]
        new_password = "a new password for a new start"
        chosen = owner_browser.post(
            "/reset-password/choose", {"token": token, "password": new_password}
        )
        assert chosen.status_code == 200
        signed_in = guess(owner_browser, owner.email, new_password)

    assert signed_in.status_code == 303


def test_the_second_factor_step_is_throttled_like_the_password(
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    clock: Clock,
) -> None:
    owner = make_account(totp_secret=TOTP_SECRET)  # whose password the attacker has
    with limited_server() as server:
        attacker = browser_from(form_browser, server.url, "127.0.0.2")
        assert guess(attacker, owner.email, owner.password).status_code == 303
        wrong = [attacker.post("/sign-in/two-factor", {"code": "000000"}) for _ in range(10)]
        held = attacker.post("/sign-in/two-factor", {"code": "000000"})
        elsewhere = browser_from(form_browser, server.url, "127.0.0.3")
        assert guess(elsewhere, owner.email, owner.password).status_code == 303
        eleventh = elsewhere.post("/sign-in/two-factor", {"code": "000000"})
        right_code = two_factor_code(TOTP_SECRET, clock)
        delayed = elsewhere.post("/sign-in/two-factor", {"code": right_code})

    assert {response.status_code for response in wrong} == {401}
    assert held.status_code == 429, "the pair is held"
    assert eleventh.status_code == 401
    assert delayed.status_code == 429, "then the account waits, right code or not"


def test_a_browser_known_before_a_reset_is_throttled_like_an_unknown_one_after_it(
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
) -> None:
    """The known-browser mark is bound to the password: whoever held a browser the owner
    used (a shared computer, a stolen cookie) loses its exemption when the owner resets."""
    owner = make_account()
    new_password = "a new password after a scare"
    with limited_server() as server:
        known = form_browser(server.url)
        assert guess(known, owner.email, owner.password).status_code == 303

        def eleven_failures(first_address: str, second_address: str) -> None:
            first = browser_from(form_browser, server.url, first_address)
            for _ in range(10):
                assert guess(first, owner.email).status_code == 401
            assert (
                guess(
                    browser_from(form_browser, server.url, second_address), owner.email
                ).status_code
                == 401
            )

        eleven_failures("127.0.0.2", "127.0.0.3")
        spared = guess(known, owner.email, owner.password)  # known, before the reset
        assert known.post("/sign-out").status_code == 303

        assert known.post("/reset-password", {"email": owner.email}).status_code == 200
        (mail,) = outbox(database, owner.email, "reset_password")
        token = link_in_mail(keyring, mail, "/reset-password/choose").split("token=")[1]
        chosen = known.post("/reset-password/choose", {"token": token, "password": new_password})
        assert chosen.status_code == 200
        eleven_failures("127.0.0.4", "127.0.0.5")
        from_known = guess(known, owner.email, new_password)
        from_stranger = guess(
            browser_from(form_browser, server.url, "127.0.0.6"), owner.email, new_password
        )

    assert spared.status_code == 303, "before the reset, the owner's browser is spared"
    assert from_known.status_code == 429
    assert answer(from_known, owner.email) == answer(from_stranger, owner.email)


@contextmanager
def redis_limited_server(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock, workdir: Path
) -> Iterator[LimitedServer]:
    """A server counting its limits in a real Redis, with the limiter's clock held still."""
    redis = RedisServer(workdir)
    limiter_time = LimiterTime()
    app = create_app(
        settings,
        database=database,
        keyring=keyring,
        limiter=RedisRateLimiter(redis.url, now=limiter_time, timeout=5),
        app_clock=clock,
    )
    try:
        with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield LimitedServer(url, client, limiter_time)
    finally:
        redis.stop()


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("face", "store"), [("sign_in", "memory"), ("sign_in", "redis"), ("link_api", "memory")]
)
def test_concurrent_guesses_at_a_throttled_account_let_at_most_one_reach_the_password_check(
    face: str,
    store: str,
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    tmp_path: Path,
) -> None:
    """The review's race: the throttle looked, then checked the password, then counted,
    so 30 guesses at once from 30 addresses all passed one look (17 reached the password
    check). Now each is claimed atomically first (in Redis, one script)."""
    owner = make_account()
    starting = (
        redis_limited_server(settings, database, keyring, clock, tmp_path)
        if store == "redis"
        else limited_server()
    )
    with starting as server:
        first = browser_from(form_browser, server.url, "127.0.0.2")
        for _ in range(10):
            assert guess(first, owner.email).status_code == 401
        assert (
            guess(browser_from(form_browser, server.url, "127.0.0.3"), owner.email).status_code
            == 401
        )
        server.limiter_time.now += 1  # the 1-second delay after eleven is over: one may try

        senders: list[Callable[[], httpx.Response]] = []
        clients: list[httpx.Client] = []
        wrong = Customer(owner.id, owner.email, GUESS)
        for host in range(1, 31):
            address = f"127.0.3.{host}"
            if face == "sign_in":
                visitor = browser_from(form_browser, server.url, address)
                fields = {"email": owner.email, "password": GUESS}
                senders.append(
                    partial(visitor.post, "/sign-in", fields, token=visitor.csrf_token())
                )
            else:
                transport = httpx.HTTPTransport(local_address=address)
                clients.append(httpx.Client(base_url=server.url, transport=transport, timeout=30))
                senders.append(partial(link, clients[-1], wrong, "0" * 32, "a-fingerprint"))
        start = threading.Barrier(len(senders))
        statuses: list[int] = []

        def send(request: Callable[[], httpx.Response]) -> None:
            start.wait()
            statuses.append(request().status_code)

        threads = [threading.Thread(target=send, args=(sender,)) for sender in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for client in clients:
            client.close()

    counted = {status: statuses.count(status) for status in sorted(set(statuses))}
    assert counted == {401: 1, 429: 29}, "only the guess that found the account free is tried"


def test_failures_that_never_reached_the_delay_are_forgotten_after_a_quiet_day_the_rest_kept(
    limited_server: StartLimitedServer, form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    """The tally's memory is bounded: every email typed keeps a count, so counts that never
    slowed anyone are forgotten a day after their last failure; past the delay they are
    kept (90 days), or an attacker would only have to pause."""
    owner = make_account()
    with limited_server() as server:
        first = browser_from(form_browser, server.url, "127.0.0.2")
        for _ in range(10):
            assert guess(first, owner.email).status_code == 401
        server.limiter_time.now += FRESH_STATE_SECONDS
        second = browser_from(form_browser, server.url, "127.0.0.3")
        after_a_day = [guess(second, owner.email).status_code for _ in range(2)]

        fourth = browser_from(form_browser, server.url, "127.0.0.4")
        for _ in range(9):  # 11 in a row now: past the delay
            assert guess(fourth, owner.email).status_code == 401
        server.limiter_time.now += 2 * FRESH_STATE_SECONDS
        later = browser_from(form_browser, server.url, "127.0.0.5")
        after_two_days = [guess(later, owner.email).status_code for _ in range(2)]

    assert after_a_day == [401, 401], "ten failures a day ago are forgotten"
    assert after_two_days == [401, 429], "eleven are not: the next still waits"


# --- password resets ------------------------------------------------------------------------------


def test_extra_reset_requests_get_the_same_page_and_no_mail_and_the_first_link_works(
    limited_server: StartLimitedServer,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
) -> None:
    owner = make_account()
    unknown_email = fresh_email("nobody")
    with limited_server(reset_rate="3/hour", signup_rate="100/minute") as server:
        attacker = browser_from(form_browser, server.url, "127.0.0.2")
        pages = {
            email: [
                answer(attacker.post("/reset-password", {"email": email}), email) for _ in range(6)
            ]
            for email in (owner.email, unknown_email)
        }
        (first, *_) = outbox(database, owner.email, "reset_password")
        link_path = link_in_mail(keyring, first, "/reset-password/choose")
        victim = form_browser(server.url)
        token = link_path.split("token=")[1]
        chosen = victim.post(
            "/reset-password/choose", {"token": token, "password": "my own new password, chosen"}
        )

    assert len({page for each in pages.values() for page in each}) == 1, "one page for all"
    assert pages[owner.email][0][0] == 200
    assert len(outbox(database, owner.email, "reset_password")) == 3
    assert len(outbox(database, unknown_email, "reset_no_account")) == 3
    assert len(audit_events(database, "accounts.password_reset_requested")) == 6
    assert len(audit_events(database, "accounts.password_reset_suppressed")) == 6
    assert chosen.status_code == 200, "the link mailed first still works"


# --- the link API -------------------------------------------------------------------------------


def test_the_link_api_throttles_the_attackers_pair_not_the_owner(
    limited_server: StartLimitedServer, make_account: MakeAccount, make_code: MakeCode
) -> None:
    owner = make_account()
    wrong = Customer(owner.id, owner.email, GUESS)
    with limited_server(link_rate="10/minute") as server:
        machine = device()
        activated = activate(server.api, make_code(), machine)
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=server.url, transport=transport, timeout=30) as attacker:
            for _ in range(10):
                assert_problem(
                    link(attacker, wrong, activated["license_key"], machine["fingerprint"]),
                    401,
                    "invalid_credentials",
                )
            held = link(attacker, owner, activated["license_key"], machine["fingerprint"])
        linked = link(server.api, owner, activated["license_key"], machine["fingerprint"])

    assert_problem(held, 429, "rate_limited")
    assert linked.status_code == 200, linked.text
