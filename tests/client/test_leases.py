"""Floating licenses in the SDK and ``licensor-client`` (issue 16, item 2): checkout,
heartbeat and checkin against the live server, signed answers verified, and the refusal
when every lease is held."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from licensor.clock import Clock
from licensor.errors import PlanUnknown
from licensor.licensing import formats
from licensor.models import CodeOrigin
from licensor_client import (
    LeaseLimitReached,
    LeaseNotHeld,
    LicenseClient,
    LicenseFileExpired,
    LicenseNotFloating,
)
from tests.cli_support import cli_environment
from tests.cli_support import run as run_script
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode

MakeClient = Callable[[str], LicenseClient]


@pytest.fixture
def floating_code(open_unit: OpenUnit) -> Callable[[], str]:
    """Codes of one floating plan of a single lease, ten minutes long."""

    def make() -> str:
        with open_unit() as unit:
            try:
                plan = unit.plans.by_code("studio")
            except PlanUnknown:
                plan = unit.plans.create(
                    code="studio", name="Studio", term_days=365, devices_max=1, lease_seconds=600
                )
            _, canonical = unit.codes.create_code(plan, CodeOrigin.MANUAL)
        return formats.format_code(canonical)

    return make


@pytest.fixture
def pinned_keys(api: httpx.Client) -> str:
    keys = api.get("/api/v1/signing-keys").json()["keys"]
    return ",".join(f"{key_id}:{key}" for key_id, key in keys.items())


@pytest.fixture
def machine(server: str, pinned_keys: str, clock: Clock, tmp_path: Path) -> Iterator[MakeClient]:
    """``machine("a")``: the app on machine a (its own state and fingerprint)."""
    made: dict[str, LicenseClient] = {}

    def make(name: str) -> LicenseClient:
        if name not in made:
            made[name] = LicenseClient(
                server,
                pinned_keys,
                app_id="licensor-tests",
                state_dir=tmp_path / name,
                fingerprint=f"sdk-floating-{name}-{secrets.token_hex(8)}",
                device_name=f"Studio PC {name}",
                clock=clock.now,
                timeout=10,
            )
        return made[name]

    yield make
    for client in made.values():
        client.close()


def test_the_sdk_checks_out_renews_and_checks_in(
    machine: MakeClient, floating_code: Callable[[], str], clock: Clock
) -> None:
    code = floating_code()
    first = machine("a")
    activated = first.activate(code)
    assert activated.valid

    held = first.checkout()  # already held since activation: renewed
    assert (held.held, held.leases_used, held.leases_max) == (True, 1, 1)
    assert held.expires_at is not None
    assert held.renew_after == timedelta(seconds=200)

    with pytest.raises(LeaseLimitReached) as full:
        machine("b").activate(code)  # the one lease is held
    assert full.value.retry_at == held.expires_at
    assert (full.value.leases_used, full.value.leases_max) == (1, 1)

    clock.advance(timedelta(seconds=300))
    renewed = first.heartbeat()
    assert renewed.expires_at is not None
    assert renewed.expires_at > held.expires_at

    given_back = first.checkin()
    assert (given_back.held, given_back.leases_used) == (False, 0)
    with pytest.raises(LeaseNotHeld):
        first.heartbeat()
    status = first.status()
    assert (status.valid, status.reason) == (False, "lease_expired")

    machine("b").activate(code)  # the freed lease is the second machine's now
    with pytest.raises(LeaseLimitReached):
        first.checkout()
    # Offline, the second machine's license file holds only while its lease would.
    assert machine("b").validate_offline().valid
    clock.advance(timedelta(seconds=601))
    with pytest.raises(LicenseFileExpired):
        machine("b").validate_offline()


def test_a_license_that_counts_devices_has_no_lease(
    machine: MakeClient, make_code: MakeCode
) -> None:
    client = machine("desk")
    client.activate(make_code("desk-plan"))
    with pytest.raises(LicenseNotFloating):
        client.checkout()


def test_licensor_client_lease_commands(
    server: str, floating_code: Callable[[], str], tmp_path: Path
) -> None:
    code = floating_code()
    env = cli_environment(tmp_path / "var")

    def client(state: str, *args: str) -> tuple[int, str]:
        """Exit status, and what was printed (only standard output under --json)."""
        env.update(LICENSOR_FINGERPRINT=f"cli-floating-{state}-fingerprint")
        ran = run_script(
            "licensor-client", "--server", server, "--state-dir", str(tmp_path / state),
            *args, environment=env, cwd=tmp_path,
        )  # fmt: skip
        printed = str(ran.stdout) + ("" if "--json" in args else str(ran.stderr))
        return ran.returncode, printed

    assert client("a", "activate", code)[0] == 0
    status, said = client("a", "lease", "heartbeat")
    assert status == 0, said
    assert "seat held until" in said
    assert "Seats in use: 1 of 1." in said

    status, said = client("b", "--json", "activate", code)
    assert status == 8, said
    refusal = json.loads(said)
    assert refusal["error"] == "lease_limit_reached"
    assert refusal["retry_at"] is not None

    status, said = client("a", "--json", "lease", "release")
    assert status == 0, said
    assert json.loads(said)["held"] is False
    assert client("b", "activate", code)[0] == 0
