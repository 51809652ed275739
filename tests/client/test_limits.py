"""Per-license limits and transfer limits in the SDK and ``licensor-client`` (issue 16,
items 10 and 4): a result that is not valid says why in ``reason``; a transfer over the
plan's cap raises ``TransferLimitReached`` with when the next is allowed, and the command
says when."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from licensor.clock import Clock
from licensor_client import LicenseClient, TransferLimitReached
from tests.cli_support import cli_environment
from tests.cli_support import run as run_script
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode


@pytest.fixture
def classroom_code(open_unit: OpenUnit, make_code: MakeCode) -> str:
    """A code of a one-device plan whose seat may move once in 30 days."""
    code = make_code("classroom", devices_max=1)
    with open_unit() as unit:
        unit.plans.edit("classroom", transfer_limit=1, transfer_period_days=30)
    return code


@pytest.fixture
def pinned_keys(api: httpx.Client) -> str:
    keys = api.get("/api/v1/signing-keys").json()["keys"]
    return ",".join(f"{key_id}:{key}" for key_id, key in keys.items())


@pytest.fixture
def machine(
    server: str, pinned_keys: str, clock: Clock, tmp_path: Path
) -> Iterator[Callable[[str], LicenseClient]]:
    """``machine("name")``: the app on the machine of that name, its own state and
    fingerprint."""
    made: dict[str, LicenseClient] = {}
    prefix = secrets.token_hex(6)

    def make(name: str) -> LicenseClient:
        if name not in made:
            made[name] = LicenseClient(
                server,
                pinned_keys,
                app_id="licensor-tests",
                state_dir=tmp_path / name,
                fingerprint=f"sdk-limits-{prefix}-{name}",
                device_name=name,
                clock=clock.now,
                timeout=10,
            )
        return made[name]

    yield make
    for client in made.values():
        client.close()


def test_the_sdk_says_why_and_when_the_next_transfer_is_allowed(
    machine: Callable[[str], LicenseClient], classroom_code: str, clock: Clock, api: httpx.Client
) -> None:
    first = machine("first").activate(classroom_code)
    assert first.reason is None
    # Freed remotely (My Account): the first machine's next check says why it stopped.
    api.post(
        "/api/v1/activations/release",
        json={"license_key": first.license_key, "fingerprint": machine("first").fingerprint},
    ).raise_for_status()
    released_at = clock.now()
    checked = machine("first").status()
    assert (checked.valid, checked.status, checked.reason) == (False, "released", "released")

    machine("second").activate(classroom_code)  # the period's one transfer
    machine("second").release()
    with pytest.raises(TransferLimitReached) as refused:
        machine("third").activate(classroom_code)

    assert refused.value.reason == "transfer_limit_reached"
    assert refused.value.retry_at is not None
    assert abs(refused.value.retry_at - (released_at + timedelta(days=30))) < timedelta(seconds=2)
    assert refused.value.retry_after is not None
    assert refused.value.retry_after > 29 * 86400


def test_the_client_command_prints_the_reason_and_when_to_move_again(
    server: str, api: httpx.Client, classroom_code: str, tmp_path: Path
) -> None:
    prefix = secrets.token_hex(6)

    def client(name: str, *args: str) -> tuple[int, str, str]:
        env = cli_environment(tmp_path / "var")
        env.update(LICENSOR_FINGERPRINT=f"cli-limits-{prefix}-{name}")
        ran = run_script(
            "licensor-client", "--server", server, "--state-dir", str(tmp_path / name),
            *args, environment=env, cwd=tmp_path,
        )  # fmt: skip
        return ran.returncode, str(ran.stdout), str(ran.stderr)

    assert client("first", "activate", classroom_code)[0] == 0
    _, shown, _ = client("first", "details", "--json")
    freed = {
        "license_key": json.loads(shown)["license_key"],
        "fingerprint": f"cli-limits-{prefix}-first",
    }
    api.post("/api/v1/activations/release", json=freed).raise_for_status()
    status, out, _ = client("first", "status")
    assert status == 4
    assert "Reason:      released" in out
    status, out, _ = client("first", "status", "--json")
    assert json.loads(out)["reason"] == "released"

    assert client("second", "activate", classroom_code)[0] == 0
    assert client("second", "release")[0] == 0
    status, out, err = client("third", "--json", "activate", classroom_code)
    assert status == 8
    assert json.loads(out)["error"] == "transfer_limit_reached"
    assert json.loads(out)["retry_at"]
    assert "the next move to a new device is allowed from" in err
