"""The API answers as its OpenAPI document says (issue 13, item 10): schemathesis generates
requests from ``/api/openapi.json`` of a live server, in and out of the schema, and checks
every answer: never a 5xx; statuses, content types, headers (``Retry-After``, ``Allow``) and
bodies as documented; a request outside the schema refused with a 4xx; a method a path does
not take 405 with ``Allow``.

Not checked: that every request inside the schema is accepted (schemathesis'
``positive_data_acceptance``). No schema can say a code's or a key's check value, so a
generated code is 422 ``code_malformed`` by the contract (SPEC "errors"), nor which
``Idempotency-Key`` was used before, nor which device codes and enrollment tokens exist
(400 ``authorization_pending``, 410): each is a documented answer of its operation.

Bounded: a few examples an operation (``MAX_EXAMPLES``), a fixed seed, so a run costs well
under a minute on each database and a failure is reproduced by running it again."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from tests.cli_support import console_script
from tests.store.factories import MakeSeller
from tests.support import serve

MAX_EXAMPLES = 15
SEED = 13


@pytest.fixture(scope="module")
def unlimited_server(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock
) -> Iterator[str]:
    """The test database's server without rate limits: hundreds of requests a minute from
    one address are the point here, not a 429 (which every limited operation documents)."""
    unlimited = settings.model_copy(update={"rate_limits": "off"})
    with serve(create_app(unlimited, database=database, keyring=keyring, app_clock=clock)) as url:
        yield url


def test_generated_requests_get_documented_answers_and_never_a_5xx(
    unlimited_server: str, make_seller: MakeSeller, tmp_path: Path
) -> None:
    seller = make_seller(count=1)  # the partner API past its 401, with a key that works
    command = [
        str(console_script("st")),
        "run",
        f"{unlimited_server}/api/openapi.json",
        "--checks=all",
        "--exclude-checks=positive_data_acceptance",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--workers=2",
        "--request-timeout=30",
        "--no-color",
        "--output-truncate=false",
        f"--header=Authorization: Bearer {seller.key}",
    ]
    run = subprocess.run(
        command,
        cwd=tmp_path,  # schemathesis' own files stay out of the tree
        capture_output=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert selected, run.stdout[-3000:]
    assert tested, run.stdout[-3000:]
    assert int(tested.group(1)) == int(selected.group(2)) >= 10, run.stdout[-3000:]
