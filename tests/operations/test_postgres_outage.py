"""A PostgreSQL that stops, or hangs, under a running ``licensor serve`` (issue 13, items 2
and 3): /healthz keeps answering at once; what needs the database answers 503 with
Retry-After within a bound, an API problem ``service_unavailable`` or a page in the
visitor's language, never a 500; /readyz names the database; and the same server answers
again once the database is back. And ``licensor serve`` refuses, in one line with the
arithmetic, processes that would open more connections than the server allows.

A cluster of the module's own, so that stopping it takes nothing from other tests."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from licensor.errors import ServiceUnavailable
from tests.cli_support import cli_environment, one_line, run, serving
from tests.licensing.factories import activation, device
from tests.operations.servers import (
    PostgresCluster,
    elapsed,
    licensor_command,
)
from tests.support import assert_problem, free_port, wait_until

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

CONNECT_TIMEOUT = 2
STATEMENT_TIMEOUT_MS = 1000
# The longest a request may wait on a database that does not answer: a liveness check
# and a connection attempt of CONNECT_TIMEOUT each, or a statement and its grace period;
# and a second of slack for a loaded machine.
BOUND = 2 * CONNECT_TIMEOUT + STATEMENT_TIMEOUT_MS / 1000 + 1
ITALIAN_TITLE = "Il servizio è momentaneamente non disponibile; riprova tra poco"


@dataclass
class Deployment:
    cluster: PostgresCluster
    environment: dict[str, str]
    workdir: Path
    url: str
    api: httpx.Client
    license_key: str
    fingerprint: str
    spare_codes: list[str]


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    started = PostgresCluster(max_connections=30)
    yield started
    started.remove()


@pytest.fixture(scope="module")
def environment(
    cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    var_dir = tmp_path_factory.mktemp("var")
    variables = cli_environment(var_dir, cluster.url)
    variables.update(
        LICENSOR_CREATE_KEYS="true",
        LICENSOR_DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
        LICENSOR_DATABASE_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS),
        LICENSOR_DATABASE_POOL_TIMEOUT="2",
    )
    licensor_command(variables, var_dir, "migrate")
    return variables


@pytest.fixture(scope="module")
def deployment(cluster: PostgresCluster, environment: dict[str, str]) -> Iterator[Deployment]:
    workdir = Path(environment["LICENSOR_VAR_DIR"])
    licensor_command(
        environment,
        workdir,
        *("plans", "create", "--code", "plus", "--name", "Plus"),
        *("--term-days", "365", "--devices", "3"),
    )
    sold = licensor_command(
        environment,
        workdir,
        *("orders", "create", "--plan", "plus", "--email", "ada@example.com"),
        *("--name", "Ada Lovelace", "--quantity", "4", "--json"),
    )
    codes = json.loads(sold)["codes"]
    with (
        serving(environment, workdir, free_port()) as url,
        httpx.Client(base_url=url, timeout=30) as api,
    ):
        machine = device()
        held = api.post("/api/v1/activations", json=activation(codes[0], machine))
        assert held.status_code == 201, held.text
        yield Deployment(
            cluster,
            environment,
            workdir,
            url,
            api,
            held.json()["license_key"],
            machine["fingerprint"],
            codes[1:],
        )


def _validate(deployment: Deployment) -> httpx.Response:
    return deployment.api.post(
        "/api/v1/licenses/validate",
        json={"license_key": deployment.license_key, "fingerprint": deployment.fingerprint},
    )


def _timed(request: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = request()  # type: ignore[operator]
    return answer, elapsed(started)


def _assert_away(deployment: Deployment) -> None:
    """While the database is away: every answer that needs it is a bounded 503, and the
    ones that do not need it come at once."""
    api = deployment.api
    with ThreadPoolExecutor(max_workers=4) as pool:
        # Requests that wait on the database, and /healthz asked while they wait.
        validating = pool.submit(_timed, lambda: _validate(deployment))
        activating = pool.submit(
            _timed,
            lambda: api.post(
                "/api/v1/activations", json=activation(deployment.spare_codes[0], device())
            ),
        )
        page = pool.submit(_timed, lambda: api.get("/store"))
        time.sleep(0.2)  # the three are waiting on the database now
        health, health_took = _timed(lambda: api.get("/healthz"))
        answers = [validating.result(), activating.result(), page.result()]

    assert health.status_code == 200
    assert health_took < 1, health_took
    for answer, took in answers:
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) >= 1
        assert took < BOUND, (answer.request.url, took)
    assert_problem(answers[0][0], 503, "service_unavailable")
    assert_problem(answers[1][0], 503, "service_unavailable")
    store = answers[2][0]
    assert store.headers["content-type"].startswith("text/html")
    assert html.escape(ServiceUnavailable.title, quote=True) in store.text
    italian = api.get("/store", headers={"Accept-Language": "it"})
    assert italian.status_code == 503
    assert int(italian.headers["retry-after"]) >= 1
    assert html.escape(ITALIAN_TITLE, quote=True) in italian.text
    ready = api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] != "ok"


def _assert_back(deployment: Deployment) -> None:
    """The same server answers again by itself once the database is back."""
    wait_until(
        lambda: _validate(deployment).status_code == 200, "validation to work again", timeout=30
    )
    assert _validate(deployment).json()["valid"] is True
    code = deployment.spare_codes.pop(0)
    answer = deployment.api.post("/api/v1/activations", json=activation(code, device()))
    assert answer.status_code == 201, answer.text
    assert deployment.api.get("/store").status_code == 200
    wait_until(
        lambda: deployment.api.get("/readyz").status_code == 200, "/readyz to be ready again"
    )


def test_serve_refuses_more_connections_than_the_database_allows_in_one_line(
    cluster: PostgresCluster, environment: dict[str, str]
) -> None:
    workdir = Path(environment["LICENSOR_VAR_DIR"])
    greedy = {**environment, "LICENSOR_DATABASE_POOL_SIZE": "20"}

    refused = run("licensor", "serve", "--workers", "2", environment=greedy, cwd=workdir)

    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 3  # one line, as the terminal wraps it
    assert (
        "2 process(es) x (20 pool + 5 overflow + 1 validation) = 52 database connections, "
        "more than this host may open: (30 max_connections - 3 reserved) = 27"
    ) in one_line(refused.stderr)


def test_a_stopped_database_is_a_503_until_it_is_back(deployment: Deployment) -> None:
    deployment.cluster.stop()
    try:
        _assert_away(deployment)
    finally:
        deployment.cluster.start()
    _assert_back(deployment)


def test_a_hung_database_is_a_bounded_503_until_it_answers_again(
    deployment: Deployment,
) -> None:
    deployment.cluster.pause()
    try:
        _assert_away(deployment)
    finally:
        deployment.cluster.resume()
    _assert_back(deployment)
