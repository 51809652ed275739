"""Logs as an operator collects them (issue 13, item 7): under ``LICENSOR_LOG_FORMAT=json``
every line ``licensor serve`` (each of its processes) and ``licensor worker`` write is one
JSON record, whole; a request's id is in its answer's ``X-Request-ID``, in the server's
``http.request`` line for it and in the worker's line for the mail it queued.

The server runs as an operator starts it, on the test database: two processes on
PostgreSQL, one on SQLite (which refuses more: tests/test_serve_sqlite.py)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from tests.accounts.factories import MakeAccount, link
from tests.cli_support import cli_environment, run, serving
from tests.licensing.factories import MakeCode, activate, device
from tests.mail_support import SmtpServer
from tests.support import free_port, wait_until

pytestmark = pytest.mark.slow


@dataclass
class Served:
    url: str
    log: Path
    environment: dict[str, str]

    def records(self) -> list[dict[str, Any]]:
        """Every line written so far, each parsed as JSON (a line that is not fails)."""
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    database: Database,
    keyring: Keyring,
) -> Iterator[Served]:
    """``licensor serve`` with JSON logs at INFO on the test database and keys (in its var
    dir), its output in a file."""
    folder = tmp_path_factory.mktemp("served")
    environment = cli_environment(settings.var_dir, settings.database_url)
    environment.update(
        LICENSOR_LOG_FORMAT="json", LICENSOR_LOG_LEVEL="INFO", LICENSOR_RATE_LIMITS="off"
    )
    workers = "1" if database.is_sqlite else "2"
    port = free_port()
    with serving(environment, folder, port, "--workers", workers) as url:
        yield Served(url, folder / f"serve-{port}.log", environment)


def _request_lines(served: Served) -> list[dict[str, Any]]:
    return [record for record in served.records() if record.get("event") == "http.request"]


def test_every_line_the_server_writes_under_load_is_one_json_record(served: Served) -> None:
    before = len(_request_lines(served))

    def one(number: int) -> int:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            kind = number % 3
            if kind == 0:
                return client.get("/healthz").status_code
            if kind == 1:
                return client.get(f"/no-such-page-{number}").status_code
            answer = client.post(
                "/api/v1/activations",
                json={"activation_code": "nonsense", "device": device()},
            )
            return answer.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(one, range(300)))

    assert sorted(set(statuses)) == [200, 404, 422]
    # Each answer's line is written as it ends; they may trail the answers a little.
    wait_until(lambda: len(_request_lines(served)) >= before + 300, "300 request lines")
    records = served.records()  # raises if any line is not one whole JSON record
    assert all(record["timestamp"].endswith("Z") and record["level"] for record in records)
    assert any(record.get("logger") == "uvicorn.error" for record in records)  # uvicorn's too
    lines = _request_lines(served)[before:]
    assert {line["status"] for line in lines} == {200, 404, 422}
    assert all(len(line["request_id"]) == 24 for line in lines)
    assert len({line["request_id"] for line in lines}) == len(lines)  # one id per request


def test_a_safe_incoming_request_id_is_kept_and_any_other_replaced(served: Served) -> None:
    kept = httpx.get(f"{served.url}/healthz", headers={"X-Request-ID": "proxy-1.2:3_x"})
    replaced = httpx.get(f"{served.url}/healthz", headers={"X-Request-ID": "a b{}" + "x" * 80})

    assert kept.headers["x-request-id"] == "proxy-1.2:3_x"
    assert len(replaced.headers["x-request-id"]) == 24
    assert "{" not in replaced.headers["x-request-id"]


def test_a_request_id_follows_the_request_into_the_worker(
    served: Served,
    tmp_path: Path,
    make_account: MakeAccount,
    make_code: MakeCode,
    smtp: SmtpServer,
) -> None:
    customer = make_account()
    machine = device()
    with httpx.Client(base_url=served.url, timeout=30) as client:
        activated = activate(client, make_code(), machine)
        request_id = f"trace-{secrets.token_hex(6)}"
        client.headers["X-Request-ID"] = request_id
        linked = link(client, customer, activated["license_key"], machine["fingerprint"])

    assert linked.status_code == 200, linked.text
    assert linked.headers["x-request-id"] == request_id
    wait_until(
        lambda: any(line["request_id"] == request_id for line in _request_lines(served)),
        "the server's line for the request",
    )
    (line,) = [line for line in _request_lines(served) if line["request_id"] == request_id]
    assert (line["method"], line["path"], line["status"]) == (
        "POST",
        "/api/v1/account/licenses",
        200,
    )

    environment = {**served.environment, "LICENSOR_SMTP_URL": smtp.url}
    worked = run("licensor", "worker", "--once", environment=environment, cwd=tmp_path)

    assert worked.returncode == 0, worked.stderr
    records = [json.loads(line) for line in worked.stderr.splitlines()]  # every line JSON
    sent = [record for record in records if record["event"] == "mail.sent"]
    assert [(record["template"], record["request_id"]) for record in sent] == [
        ("license_added", request_id)
    ]
    smtp.inbox.to(customer.email)
