"""Reserve codes in the SDK and ``licensor-client`` (issue 16, item 6): the app adds a
second code in reserve and keeps the license file the server signs again (extended end,
the reserve's start), offline too; it withdraws it before it starts; refusals arrive with
the server's codes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from licensor.clock import Clock
from licensor_client import LicenseClient
from licensor_client.exceptions import CodeBlocked, ServerError
from tests.cli_support import cli_environment
from tests.cli_support import run as run_script
from tests.licensing.factories import BlockCode, MakeCode
from tests.support import closed_server

YEAR = timedelta(days=365)


@pytest.fixture
def pinned_keys(api: httpx.Client) -> str:
    keys = api.get("/api/v1/signing-keys").json()["keys"]
    return ",".join(f"{key_id}:{key}" for key_id, key in keys.items())


@pytest.fixture
def app_client(
    server: str, pinned_keys: str, clock: Clock, tmp_path: Path
) -> Iterator[Callable[..., LicenseClient]]:
    """``app_client()``: the app on one machine; ``app_client(closed_server())`` the same
    app while the server cannot be reached."""
    fingerprint = f"sdk-reserve-{secrets.token_hex(8)}"
    made: list[LicenseClient] = []

    def make(server_url: str = server) -> LicenseClient:
        client = LicenseClient(
            server_url,
            pinned_keys,
            app_id="licensor-tests",
            state_dir=tmp_path / "state",
            fingerprint=fingerprint,
            device_name="Laptop",
            clock=clock.now,
            timeout=10,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_the_app_adds_a_reserve_code_and_the_license_shows_it_offline_too(
    app_client: Callable[..., LicenseClient], make_code: MakeCode, clock: Clock
) -> None:
    activated = app_client().activate(make_code("plus"))
    assert activated.reserve_starts_at is None
    assert activated.expires_at is not None
    clock.advance(timedelta(days=10))

    extended = app_client().add_reserve_code(make_code("plus"))

    assert extended.reserve_starts_at == activated.expires_at
    assert extended.expires_at == activated.expires_at + YEAR
    assert extended.has_code  # the license's own sealed code is kept, for backups
    assert app_client().status().reserve_starts_at == activated.expires_at
    offline = app_client(closed_server()).validate_offline()
    assert offline.expires_at == activated.expires_at + YEAR
    assert offline.as_dict()["reserve_starts_at"] is not None

    withdrawn = app_client().withdraw_reserve()
    assert withdrawn.reserve_starts_at is None
    assert withdrawn.expires_at == activated.expires_at
    assert app_client().details().expires_at == activated.expires_at


def test_refusals_arrive_with_the_servers_codes(
    app_client: Callable[..., LicenseClient], make_code: MakeCode, block_code: BlockCode
) -> None:
    app_client().activate(make_code("plus"))
    blocked = make_code("plus")
    block_code(blocked)

    with pytest.raises(CodeBlocked):
        app_client().add_reserve_code(blocked)
    with pytest.raises(ServerError) as other_plan:
        app_client().add_reserve_code(make_code("premium"))
    assert other_plan.value.code == "reserve_plan_mismatch"
    with pytest.raises(ServerError) as none:
        app_client().withdraw_reserve()
    assert none.value.code == "reserve_unknown"


def test_licensor_client_reserve_and_withdraw(
    server: str, make_code: MakeCode, tmp_path: Path
) -> None:
    env = cli_environment(tmp_path / "var")
    env.update(LICENSOR_FINGERPRINT=f"cli-reserve-{secrets.token_hex(8)}")

    def client(*args: str, ok: bool = True) -> str:
        ran = run_script(
            "licensor-client", "--server", server, "--state-dir", str(tmp_path / "state"),
            *args, environment=env, cwd=tmp_path,
        )  # fmt: skip
        assert (ran.returncode == 0) == ok, ran.stderr
        return str(ran.stdout + ran.stderr)

    client("activate", make_code("plus"))
    added = client("reserve", make_code("plus"))
    assert "Reserve code added." in added
    assert "Reserve:     a reserve code starts" in added
    assert "Reserve:" in client("details")
    taken_back = json.loads(client("--json", "reserve", "--withdraw"))
    assert taken_back["action"] == "withdrawn"
    assert taken_back["reserve_starts_at"] is None
    refused = client("reserve", "--withdraw", ok=False)
    assert "reserve" in refused.lower()
