"""Redis, the shared rate-limit store, stopped and hung (``SIGSTOP``) under a running
``licensor serve`` with ``LICENSOR_REDIS_URL`` (issue 13, item 2): answers stay bounded;
the limits that guard a guessable secret fail closed (503 ``service_unavailable`` with
Retry-After, a 503 page for sign-in), validation of a license an app holds fails open
(200), no other 5xx; and the same server counts in Redis again once it is back.

On the suite's database (SQLite, then PostgreSQL), with its keys: the server is a
separate process, as in production."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from licensor.config import Settings
from licensor.errors import ServiceUnavailable
from tests.accounts.factories import Browser, MakeAccount
from tests.cli_support import cli_environment, serving
from tests.licensing.factories import MakeCode, activation, device
from tests.operations.servers import Redis, elapsed
from tests.support import assert_problem, free_port, wait_until

pytestmark = pytest.mark.slow

# The limiter's timeout per Redis call is 0.25 s and a request makes a few: a second of
# slack on a loaded machine.
BOUND = 2.0
DESIGNED = {200, 201, 303, 503}


@dataclass
class Shared:
    redis: Redis
    url: str
    api: httpx.Client


@pytest.fixture(scope="module")
def shared(
    settings: Settings, database: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    workdir = tmp_path_factory.mktemp("redis")
    redis = Redis(workdir)
    environment = cli_environment(settings.var_dir, settings.database_url)
    environment["LICENSOR_REDIS_URL"] = redis.url
    try:
        with (
            serving(environment, workdir, free_port()) as url,
            httpx.Client(base_url=url, timeout=30) as api,
        ):
            yield Shared(redis, url, api)
    finally:
        redis.stop()


def _timed(request: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = request()
    return answer, elapsed(started)


Outage = tuple[Callable[[], None], Callable[[], None]]  # (take Redis away, bring it back)


def _assert_limits_away(
    shared: Shared, make_code: MakeCode, make_account: MakeAccount, outage: Outage
) -> None:
    api = shared.api
    machine = device()
    held = api.post("/api/v1/activations", json=activation(make_code(), machine))
    assert held.status_code == 201, held.text  # counted in Redis while it answered
    customer = make_account()
    visitor = Browser(shared.url)
    token = visitor.csrf_token()
    guess = make_code()

    take_away, bring_back = outage
    take_away()
    try:
        activating = _timed(
            lambda: api.post("/api/v1/activations", json=activation(guess, device()))
        )
        validating = _timed(
            lambda: api.post(
                "/api/v1/licenses/validate",
                json={
                    "license_key": held.json()["license_key"],
                    "fingerprint": machine["fingerprint"],
                },
            )
        )
        signing_in = _timed(
            lambda: visitor.post(
                "/sign-in", {"email": customer.email, "password": customer.password}, token=token
            )
        )
        health = _timed(lambda: api.get("/healthz"))
        ready = api.get("/readyz")
    finally:
        bring_back()
    visitor.close()

    for answer, took in (activating, validating, signing_in, health):
        assert answer.status_code in DESIGNED, answer.text
        assert took < BOUND, (answer.request.url, took)
    assert_problem(activating[0], 503, "service_unavailable")
    assert int(activating[0].headers["retry-after"]) >= 1
    assert validating[0].status_code == 200
    assert validating[0].json()["valid"] is True
    assert signing_in[0].status_code == 503
    assert int(signing_in[0].headers["retry-after"]) >= 1
    assert html.escape(ServiceUnavailable.title, quote=True) in signing_in[0].text
    assert health[0].status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"] != "ok"

    # Back: the code guessed at during the outage activates, counted in Redis again.
    wait_until(
        lambda: (
            api.post("/api/v1/activations", json=activation(guess, device())).status_code == 201
        ),
        "activation to work again",
        timeout=30,
        interval=0.2,
    )
    assert api.get("/readyz").json()["checks"]["redis"] == "ok"


def test_a_stopped_redis_fails_guesses_closed_and_validation_open_until_it_is_back(
    shared: Shared, make_code: MakeCode, make_account: MakeAccount
) -> None:
    _assert_limits_away(shared, make_code, make_account, (shared.redis.stop, shared.redis.start))


def test_a_hung_redis_costs_each_request_its_timeout_until_it_answers_again(
    shared: Shared, make_code: MakeCode, make_account: MakeAccount
) -> None:
    _assert_limits_away(shared, make_code, make_account, (shared.redis.pause, shared.redis.resume))
