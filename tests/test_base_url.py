"""Links name the server that made them: with ``LICENSOR_BASE_URL`` unset, the base URL is
the address ``licensor serve`` listens on, port included (links in mail, the client's
messages, the checkout's return); set, it is used as it is (issue 13, item 5)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from licensor.config import Settings
from licensor.keys import Keyring
from tests.cli_support import cli_environment, run, serving
from tests.support import free_port


@contextmanager
def _served(tmp_path: Path, port: int, *, workers: int, **variables: str) -> Iterator[str]:
    """``licensor serve`` on a SQLite file of its own, as an operator starts it."""
    environment = cli_environment(tmp_path, f"sqlite:///{tmp_path / 'licensor.db'}")
    environment.update(variables)
    migrated = run("licensor", "migrate", environment=environment, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    with serving(environment, tmp_path, port, "--workers", str(workers)) as url:
        yield url


def _connect_link(url: str) -> str:
    answer = httpx.post(
        f"{url}/api/v1/device/authorize", json={"fingerprint": "f" * 32, "name": "Laptop"}
    )
    assert answer.status_code == 200, answer.text
    link: str = answer.json()["verification_uri"]
    return link


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.postgres_only)])
def test_unset_the_base_url_is_the_address_the_server_listens_on(
    tmp_path: Path, workers: int, settings: Settings, keyring: Keyring
) -> None:
    # More processes than one need PostgreSQL (SQLite refuses them: test_serve_sqlite.py):
    # the test database, and its keys.
    shared = (
        {}
        if workers == 1
        else {
            "LICENSOR_DATABASE_URL": settings.database_url,
            "LICENSOR_KEYS_DIR": str(settings.resolved_keys_dir),
        }
    )
    port = free_port()
    with _served(tmp_path, port, workers=workers, **shared) as url:
        link = _connect_link(url)

    assert port != 8000
    assert link == f"http://127.0.0.1:{port}/account/connect"


@pytest.mark.slow
def test_a_base_url_that_is_set_is_used_as_it_is(tmp_path: Path) -> None:
    with _served(
        tmp_path, free_port(), workers=1, LICENSOR_BASE_URL="http://licenses.example.com"
    ) as url:
        link = _connect_link(url)

    assert link == "http://licenses.example.com/account/connect"
