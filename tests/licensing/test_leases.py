"""Floating licenses (issue 16, item 2): leases checked out, renewed, checked in and
lapsing by time, over the API; and fifty devices racing for five leases on PostgreSQL."""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.licensing import formats
from licensor.models import Activation, CodeOrigin, Device, Lease
from tests.cli_support import cli_environment, run
from tests.conftest import OpenUnit
from tests.licensing.factories import (
    MakeFloating,
    activate,
    answer_verifies,
    device,
    signing_keys,
    try_activate,
    validate,
)
from tests.support import audit_events


def lease(
    api: httpx.Client, action: str, license_key: str, fingerprint: str, **headers: str
) -> httpx.Response:
    path = {"checkout": "/api/v1/leases", "heartbeat": "/api/v1/leases/heartbeat"}.get(
        action, f"/api/v1/leases/{action}"
    )
    body = {"license_key": license_key, "fingerprint": fingerprint, "nonce": "n-" + action}
    return api.post(path, json=body, headers=headers)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_activating_a_floating_code_checks_out_a_lease_and_validate_needs_it(
    api: httpx.Client, floating_code: MakeFloating, clock: Clock
) -> None:
    code = floating_code(leases=2, lease_seconds=600)
    laptop = device("Lab PC 1")

    answer = activate(api, code, laptop)

    assert answer["devices_max"] == 2
    assert answer["devices_used"] == 1  # leases held, not devices registered
    lease_until = _moment(answer["lease_expires_at"])
    assert timedelta(seconds=590) < lease_until - clock.now() <= timedelta(seconds=600)
    # Offline, the license file holds only as long as the lease: a device that stops
    # renewing cannot go on without the server.
    assert _moment(answer["license_file"]["payload"]["valid_until"]) == lease_until.replace(
        microsecond=0
    )
    checked = validate(api, answer["license_key"], laptop["fingerprint"])
    assert checked["valid"] is True
    assert checked["lease_expires_at"] is not None
    assert checked["license_file"]["payload"]["valid_until"] == checked["lease_expires_at"]

    clock.advance(timedelta(seconds=601))  # not renewed: the lease frees itself
    lapsed = validate(api, answer["license_key"], laptop["fingerprint"])
    assert lapsed["valid"] is False
    assert lapsed["status"] == lapsed["reason"] == "lease_expired"
    assert lapsed["lease_expires_at"] is None


def test_checkout_beyond_the_limit_is_refused_with_when_the_soonest_lapses(
    api: httpx.Client, floating_code: MakeFloating, clock: Clock
) -> None:
    code = floating_code(leases=2, lease_seconds=300)
    first, second, third = device("A"), device("B"), device("C")
    key = activate(api, code, first)["license_key"]
    clock.advance(timedelta(seconds=60))
    activate(api, code, second)

    refused = try_activate(api, code, third)

    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "lease_limit_reached"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["leases_used"] == problem["leases_max"] == 2
    # The soonest lease to lapse is the first device's, taken a minute earlier.
    assert _moment(problem["retry_at"]) == _moment(
        validate(api, key, first["fingerprint"])["lease_expires_at"]
    )
    assert 0 < problem["retry_after"] <= 240
    assert refused.headers["retry-after"] == str(problem["retry_after"])

    # The first device checks in: the third takes its place.
    released = lease(api, "release", key, first["fingerprint"])
    assert released.status_code == 200, released.text
    assert released.json()["held"] is False
    assert released.json()["leases_used"] == 1
    assert activate(api, code, third)["devices_used"] == 2
    # The first device is still registered: its checkout now waits for a free lease.
    again = lease(api, "checkout", key, first["fingerprint"])
    assert again.status_code == 409
    assert again.json()["code"] == "lease_limit_reached"


def test_releasing_a_seat_frees_its_lease_for_another_device(
    api: httpx.Client, floating_code: MakeFloating
) -> None:
    code = floating_code(leases=1, lease_seconds=3600)
    first, second = device("Leaving"), device("Next")
    key = activate(api, code, first)["license_key"]
    assert try_activate(api, code, second).json()["code"] == "lease_limit_reached"

    # The app is uninstalled (licensor-client release): its seat goes, and its lease
    # with it; it must not hold the only lease for another hour.
    released = api.post(
        "/api/v1/activations/release",
        json={"license_key": key, "fingerprint": first["fingerprint"]},
    )
    assert released.status_code == 200, released.text

    assert activate(api, code, second)["lease_expires_at"] is not None


def test_heartbeat_renews_a_live_lease_and_answers_signed(
    api: httpx.Client, floating_code: MakeFloating, clock: Clock
) -> None:
    code = floating_code(leases=1, lease_seconds=120)
    machine = device()
    key = activate(api, code, machine)["license_key"]
    clock.advance(timedelta(seconds=100))

    renewed = lease(api, "heartbeat", key, machine["fingerprint"])

    assert renewed.status_code == 200, renewed.text
    assert answer_verifies(renewed.content, signing_keys(api))
    body = renewed.json()
    assert body["nonce"] == "n-heartbeat"
    assert body["held"] is True
    assert body["leases_used"] == body["leases_max"] == 1
    assert body["lease_seconds"] == 120
    assert _moment(body["expires_at"]) - clock.now() > timedelta(seconds=110)
    clock.advance(timedelta(seconds=100))  # past the first term, within the renewed one
    assert validate(api, key, machine["fingerprint"])["valid"] is True


def test_a_lapsed_lease_is_a_new_checkout_refused_when_another_took_it(
    api: httpx.Client, floating_code: MakeFloating, clock: Clock
) -> None:
    code = floating_code(leases=1, lease_seconds=60)
    first, second = device("Old"), device("New")
    key = activate(api, code, first)["license_key"]
    clock.advance(timedelta(seconds=61))
    activate(api, code, second)  # the lapsed lease freed the limit

    late = lease(api, "heartbeat", key, first["fingerprint"])

    assert late.status_code == 409
    assert late.json()["code"] == "lease_limit_reached"
    clock.advance(timedelta(seconds=61))  # the second lapses too: now the first's heartbeat
    back = lease(api, "heartbeat", key, first["fingerprint"])
    assert back.status_code == 200, back.text
    assert back.json()["held"] is True


def test_a_checked_in_lease_is_not_renewed_by_heartbeat(
    api: httpx.Client, floating_code: MakeFloating
) -> None:
    code = floating_code(leases=3)
    machine = device()
    key = activate(api, code, machine)["license_key"]
    assert lease(api, "release", key, machine["fingerprint"]).status_code == 200

    refused = lease(api, "heartbeat", key, machine["fingerprint"])

    assert refused.status_code == 409
    assert refused.json()["code"] == "lease_not_held"
    taken = lease(api, "checkout", key, machine["fingerprint"])
    assert taken.status_code == 201, taken.text
    assert answer_verifies(taken.content, signing_keys(api))
    assert taken.json()["held"] is True


def test_a_lease_needs_a_seat_on_the_device_and_a_floating_plan(
    api: httpx.Client, floating_code: MakeFloating, make_code: Callable[..., str]
) -> None:
    key = activate(api, floating_code(), device())["license_key"]
    stranger = lease(api, "checkout", key, secrets.token_hex(16))
    assert stranger.status_code == 403
    assert stranger.json()["code"] == "license_not_on_device"

    machine = device()
    seat_key = activate(api, make_code("desk"), machine)["license_key"]
    not_floating = lease(api, "checkout", seat_key, machine["fingerprint"])
    assert not_floating.status_code == 409
    assert not_floating.json()["code"] == "license_not_floating"
    # A license that counts devices keeps its answers as they were.
    assert "lease_expires_at" not in validate(api, seat_key, machine["fingerprint"])


def test_checkout_takes_an_idempotency_key(api: httpx.Client, floating_code: MakeFloating) -> None:
    machine = device()
    key = activate(api, floating_code(), machine)["license_key"]
    idempotency = {"Idempotency-Key": secrets.token_hex(8)}

    first = lease(api, "checkout", key, machine["fingerprint"], **idempotency)
    second = lease(api, "checkout", key, machine["fingerprint"], **idempotency)

    assert first.status_code == second.status_code == 201
    assert first.content == second.content  # the same answer, replayed


# --- the race ------------------------------------------------------------------------------


def _register_devices(open_unit: OpenUnit, database: Database, key: str, count: int) -> list[str]:
    """Fingerprints of ``count`` more devices with a seat of the license, none holding a
    lease (as if each had checked in)."""
    fingerprints = [secrets.token_hex(16) for _ in range(count)]
    with open_unit() as unit:
        license = unit.licenses.find_license(key)
        for fingerprint in fingerprints:
            machine = Device(
                fingerprint=fingerprint,
                name="Lab PC",
                platform="linux",
                created_at=unit.now,
                last_seen_at=unit.now,
            )
            unit.session.add(machine)
            unit.session.flush()
            unit.session.add(
                Activation(
                    license_id=license.id,
                    device_id=machine.id,
                    activated_at=unit.now,
                    last_validated_at=unit.now,
                )
            )
    return fingerprints


@pytest.mark.postgres_only
def test_fifty_devices_checking_out_at_once_get_exactly_five_leases(
    server: str,
    api: httpx.Client,
    database: Database,
    open_unit: OpenUnit,
    floating_code: MakeFloating,
) -> None:
    first = device("Lab PC 0")
    key = activate(api, floating_code("lab50", leases=5), first)["license_key"]
    assert lease(api, "release", key, first["fingerprint"]).status_code == 200
    fingerprints = [first["fingerprint"], *_register_devices(open_unit, database, key, 49)]
    barrier = threading.Barrier(len(fingerprints))
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)

    with httpx.Client(base_url=server, timeout=60, limits=limits) as client:

        def checkout(fingerprint: str) -> httpx.Response:
            barrier.wait()
            return client.post(
                "/api/v1/leases", json={"license_key": key, "fingerprint": fingerprint}
            )

        with ThreadPoolExecutor(max_workers=len(fingerprints)) as pool:
            responses = list(pool.map(checkout, fingerprints))

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 5, 409: 45}, [r.text for r in responses if r.status_code >= 500]
    refused: list[Any] = [r.json() for r in responses if r.status_code == 409]
    assert {problem["code"] for problem in refused} == {"lease_limit_reached"}
    granted = sorted(r.json()["leases_used"] for r in responses if r.status_code == 201)
    assert granted == [1, 2, 3, 4, 5]
    with database.transaction() as session:
        live = session.scalar(select(func.count(Lease.id)).where(Lease.released_at.is_(None)))
    assert live == 5


# --- the vendor's CLI ------------------------------------------------------------------------


def test_the_vendor_makes_a_floating_plan_sees_and_frees_leases_by_cli(
    api: httpx.Client, settings: Settings, open_unit: OpenUnit, database: Database, tmp_path: Path
) -> None:
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)

    def licensor(*args: str) -> str:
        done = run("licensor", *args, environment=environment, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return str(done.stdout)

    made = licensor(
        "plans", "create", "--code", "studio", "--name", "Studio", "--term-days", "365",
        "--devices", "5", "--lease-seconds", "900",
    )  # fmt: skip
    assert "floating (900 s leases)" in made
    with open_unit() as unit:
        _, canonical = unit.codes.create_code(unit.plans.by_code("studio"), CodeOrigin.MANUAL)
    machine = device("Render node")
    answer = activate(api, formats.format_code(canonical), machine)
    public_id, key = answer["public_id"], answer["license_key"]

    shown = json.loads(licensor("licenses", "show", public_id, "--json"))
    [held] = shown["leases"]
    assert (held["device_name"], held["fingerprint"]) == ("Render node", machine["fingerprint"])

    freed = licensor(
        "licenses", "release-lease", public_id, "--device", machine["fingerprint"],
        "--reason", "left running over the weekend",
    )  # fmt: skip
    assert "lease freed" in freed
    assert lease(api, "heartbeat", key, machine["fingerprint"]).json()["code"] == "lease_not_held"
    [event] = audit_events(database, "licensing.lease_freed")
    assert event.reason == "left running over the weekend"
    assert event.details["device"] == "Render node"

    # With licenses out, the plan keeps counting leases (their apps count so); a lease's
    # length may still change.
    refused = run(
        "licensor", "plans", "edit", "studio", "--no-lease", environment=environment, cwd=tmp_path
    )
    assert refused.returncode != 0
    assert "keeps counting devices or leases as it does" in refused.stderr
    assert "(validation_failed)" in refused.stderr
    assert "900 -> 600" in licensor("plans", "edit", "studio", "--lease-seconds", "600")
