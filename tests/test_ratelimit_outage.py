"""When Redis, the shared rate-limit store, goes away: limits that protect a guessable
secret fail closed (503 ``service_unavailable`` with Retry-After, a 503 page for forms),
validation of a license the app holds fails open (it keeps answering), and no call waits
on Redis longer than its timeout. A real redis-server on loopback, stopped mid-test."""

from __future__ import annotations

import html
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import ServiceUnavailable
from licensor.keys import Keyring
from tests.accounts.factories import MakeAccount, OpenBrowser
from tests.licensing.factories import MakeCode, activate, activation, device
from tests.limits import RedisServer
from tests.support import assert_problem, serve


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@contextmanager
def shared_limits_server(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock, redis_url: str
) -> Iterator[httpx.Client]:
    """A server counting its limits in Redis, as a production deployment does."""
    shared = settings.model_copy(update={"redis_url": redis_url})
    app = create_app(shared, database=database, keyring=keyring, app_clock=clock)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def _assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0


def test_when_redis_goes_away_guesses_are_refused_and_validation_keeps_answering(
    settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    redis_server: RedisServer,
    make_code: MakeCode,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    with shared_limits_server(settings, database, keyring, clock, redis_server.url) as api:
        machine = device()
        held = activate(api, make_code(), machine)  # limits counted in Redis while it is up
        visitor = form_browser(str(api.base_url))
        token = visitor.csrf_token()
        customer = make_account()
        unused = make_code()

        redis_server.stop()

        activation_guess = api.post("/api/v1/activations", json=activation(unused, device()))
        link_guess = api.post(
            "/api/v1/account/licenses",
            json={
                "email": customer.email,
                "password": "a guessed password",
                "license_key": held["license_key"],
                "fingerprint": machine["fingerprint"],
            },
        )
        connect = api.post(
            "/api/v1/device/authorize", json={"fingerprint": device()["fingerprint"]}
        )
        sign_in = visitor.post(
            "/sign-in", {"email": customer.email, "password": customer.password}, token=token
        )
        lookup = visitor.post(
            "/orders/lookup",
            {
                "order_number": "LO-AAAA-AAAA",
                "purchased_on": "2026-01-01",
                "name": "Mario Rossi",
                "email": customer.email,
            },
            token=token,
        )
        validation = api.post(
            "/api/v1/licenses/validate",
            json={"license_key": held["license_key"], "fingerprint": machine["fingerprint"]},
        )

    for answer in (activation_guess, link_guess, connect):
        assert_problem(answer, 503, "service_unavailable")
        _assert_unavailable(answer)
    for page in (sign_in, lookup):
        _assert_unavailable(page)
        assert html.escape(ServiceUnavailable.title, quote=True) in page.text
    assert visitor.session_token is None
    assert validation.status_code == 200, validation.text
    assert validation.json()["valid"] is True
    # The code guessed at during the outage was never activated.
    with shared_limits_server(settings, database, keyring, clock, "") as local_limits:
        assert activate(local_limits, unused, device())["devices_used"] == 1


def test_a_redis_that_accepts_but_never_answers_costs_a_request_its_timeout_not_forever(
    settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    make_code: MakeCode,
) -> None:
    with socket.socket() as silent:  # connections are accepted by the kernel, never answered
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        with shared_limits_server(settings, database, keyring, clock, url) as api:
            answer = api.post("/api/v1/activations", json=activation(make_code(), device()))

    assert_problem(answer, 503, "service_unavailable")
