"""Entitlements in the SDK and ``licensor-client`` (issue 16, item 1): ``license.has(name)``
from the signed answer or, offline, the signed license file; a license that is not valid
unlocks nothing; ``details`` prints them."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from licensor.clock import Clock
from licensor.licensing import formats
from licensor.models import CodeOrigin
from licensor_client import LicenseClient
from tests.cli_support import cli_environment
from tests.cli_support import run as run_script
from tests.client.conftest import CODE, FakeServer, MakeClient
from tests.conftest import OpenUnit
from tests.licensing.factories import BlockCode, MakePlan
from tests.support import closed_server


@pytest.fixture
def suite_code(open_unit: OpenUnit, make_plan: MakePlan) -> str:
    make_plan("suite", entitlements=["vpn", "password-manager"])
    with open_unit() as unit:
        _, canonical = unit.codes.create_code(unit.plans.by_code("suite"), CodeOrigin.MANUAL)
    return formats.format_code(canonical)


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
    fingerprint = f"sdk-entitled-{secrets.token_hex(8)}"
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


def test_the_sdk_says_what_the_plan_unlocks_online_and_offline(
    app_client: Callable[..., LicenseClient], suite_code: str
) -> None:
    activated = app_client().activate(suite_code)
    assert activated.entitlements == ("password-manager", "vpn")
    assert activated.has("vpn")
    assert activated.has("Password-Manager")
    assert not activated.has("backup")

    checked = app_client().status()
    assert (checked.source, checked.has("vpn"), checked.has("backup")) == ("online", True, False)

    offline = app_client(closed_server()).status()
    assert (offline.source, offline.has("vpn"), offline.has("backup")) == ("offline", True, False)


def test_a_license_that_is_not_valid_unlocks_nothing(
    app_client: Callable[..., LicenseClient], suite_code: str, block_code: BlockCode
) -> None:
    app_client().activate(suite_code)
    block_code(suite_code)
    checked = app_client().status()
    assert (checked.valid, checked.entitlements) == (False, ("password-manager", "vpn"))
    assert not checked.has("vpn")


def test_details_prints_the_entitlements(
    server: str, pinned_keys: str, suite_code: str, tmp_path: Path
) -> None:
    env = cli_environment(tmp_path / "var")
    env.update(LICENSOR_FINGERPRINT=f"cli-entitled-{secrets.token_hex(8)}")

    def client(*args: str) -> str:
        ran = run_script(
            "licensor-client", "--server", server, "--state-dir", str(tmp_path / "state"),
            *args, environment=env, cwd=tmp_path,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        return str(ran.stdout)

    client("activate", suite_code)
    assert "Entitlements: password-manager, vpn" in client("details")


def test_a_file_from_an_older_server_gives_the_plans_entitlements(
    make_client: MakeClient, fake_server: FakeServer
) -> None:
    # The fake server signs files as servers before issue 16 did: plan.entitlements only.
    assert "entitlements" not in fake_server.license_file("any")["payload"]
    client = make_client()
    activated = client.activate(CODE)
    assert activated.entitlements == ("antivirus", "vpn")
    assert activated.has("antivirus")
    assert not client.details().has("password-manager")
