"""Per-license limits and transfer limits (issue 16, items 10 and 4), over the API as an
app meets them and through ``licensor plans``/``licensor licenses`` as the vendor sets them:
one license's own device limit, the reason of every invalid validation, and a plan's cap
on moving seats between devices, with support's grant of one more."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from tests.cli_support import Command, cli_environment, run, table_rows
from tests.conftest import OpenUnit
from tests.licensing.factories import (
    BlockCode,
    MakeCode,
    activate,
    device,
    try_activate,
    validate,
)
from tests.licensing.test_concurrency import _activate_all_at_once
from tests.support import assert_problem, audit_events


@pytest.fixture
def licensor(settings: Settings, tmp_path: Path) -> Command:
    """``licensor ARGS...`` on the test database; the completed process, checked."""
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        done = run("licensor", *args, environment=environment, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done

    return command


def release(api: httpx.Client, license_key: str, machine: dict[str, str]) -> None:
    response = api.post(
        "/api/v1/activations/release",
        json={"license_key": license_key, "fingerprint": machine["fingerprint"]},
    )
    assert response.status_code == 200, response.text


def test_an_admin_gives_one_license_its_own_device_limit(
    api: httpx.Client, make_code: MakeCode, licensor: Command, database: Database
) -> None:
    code = make_code("solo", devices_max=1)
    home, office, laptop = device("Home"), device("Office"), device("Laptop")
    first = activate(api, code, home)
    public_id, key = first["public_id"], first["license_key"]
    assert_problem(try_activate(api, code, office), 409, "device_limit_reached")

    raised = licensor("licenses", "set-devices", public_id, "2", "--reason", "family of two")

    assert "up to 2 devices (its own limit)" in raised.stdout
    second = activate(api, code, office)
    assert (second["devices_used"], second["devices_max"]) == (2, 2)
    assert second["license_file"]["payload"]["devices_max"] == 2
    answer = validate(api, key, home["fingerprint"])
    assert (answer["valid"], answer["devices_max"]) == (True, 2)
    refused = assert_problem(try_activate(api, code, laptop), 409, "device_limit_reached")
    assert refused["devices_max"] == 2
    [event] = audit_events(database, "licensing.devices_set")
    assert event.reason == "family of two"
    assert event.details["previous_devices_max"] is None
    assert event.details["devices_max"] == 2

    # Back to the plan's limit: the seats in use stay; no new device takes one.
    licensor("licenses", "set-devices", public_id, "--plan", "--reason", "back to one")
    assert validate(api, key, office["fingerprint"])["valid"] is True
    assert validate(api, key, office["fingerprint"])["devices_max"] == 1
    release(api, key, office)
    assert_problem(try_activate(api, code, laptop), 409, "device_limit_reached")


def test_every_invalid_validation_says_why(
    api: httpx.Client, make_code: MakeCode, block_code: BlockCode, clock: Clock
) -> None:
    code, other = make_code("plus"), make_code("plus")
    home, office, stranger = device("Home"), device("Office"), device("Stranger")
    key = activate(api, code, home)["license_key"]
    activate(api, code, office)
    release(api, key, office)
    other_key = activate(api, other, home)["license_key"]
    block_code(other)

    assert "reason" not in validate(api, key, home["fingerprint"])
    assert validate(api, key, office["fingerprint"])["reason"] == "released"
    assert validate(api, key, stranger["fingerprint"])["reason"] == "not_activated"
    assert validate(api, other_key, home["fingerprint"])["reason"] == "blocked"
    assert validate(api, "0" * 32, home["fingerprint"])["reason"] == "unknown"
    clock.advance(timedelta(days=366))
    expired = validate(api, key, home["fingerprint"])
    assert (expired["valid"], expired["status"], expired["reason"]) == (False, "expired", "expired")


def test_a_plan_caps_transfers_and_support_grants_one_more(
    api: httpx.Client,
    make_code: MakeCode,
    licensor: Command,
    database: Database,
    clock: Clock,
) -> None:
    code = make_code("classroom", devices_max=1)
    edited = licensor(
        "plans", "edit", "classroom", "--transfer-limit", "1", "--transfer-period-days", "30"
    )
    assert "transfer limit: none -> 1" in edited.stdout
    assert table_rows(licensor("plans", "list").stdout)[0][5] == "1/30d"
    first, second, third = device("First"), device("Second"), device("Third")
    activated = activate(api, code, first)
    public_id, key = activated["public_id"], activated["license_key"]

    release(api, key, first)
    released_at = clock.now()
    activate(api, code, second)  # the one transfer of the period
    clock.advance(timedelta(days=1))
    release(api, key, second)

    refused = assert_problem(try_activate(api, code, third), 409, "transfer_limit_reached")
    retry_at = datetime.fromisoformat(refused["retry_at"])
    assert abs(retry_at - (released_at + timedelta(days=30))) < timedelta(seconds=2)
    assert abs(refused["retry_after"] - (29 * 86400)) < 5
    # The same device coming back is no transfer.
    activate(api, code, second)
    release(api, key, second)

    granted = licensor("licenses", "grant-transfer", public_id, "--reason", "new school PC")
    assert "one more transfer granted" in granted.stdout
    assert activate(api, code, third)["devices_used"] == 1
    [event] = audit_events(database, "licensing.transfer_granted")
    assert (event.reason, event.details["extra_transfers"]) == ("new school PC", 1)

    release(api, key, third)
    assert_problem(try_activate(api, code, device("Fourth")), 409, "transfer_limit_reached")
    clock.advance(timedelta(days=31))
    activate(api, code, device("Fourth"))


def test_devices_racing_for_a_transfer_get_exactly_the_one_allowed(
    server: str, api: httpx.Client, make_code: MakeCode, open_unit: OpenUnit
) -> None:
    code = make_code("desk", devices_max=1)
    with open_unit() as unit:
        unit.plans.edit("desk", transfer_limit=1, transfer_period_days=30)
    first = device("First")
    key = activate(api, code, first)["license_key"]
    release(api, key, first)

    raced = _activate_all_at_once(server, code, [device(f"PC {n}") for n in range(20)])

    assert Counter(answer.status_code for answer in raced) == {201: 1, 409: 19}
    assert {answer.json()["code"] for answer in raced if answer.status_code == 409} == {
        "device_limit_reached"
    }
    [winner] = [answer.json() for answer in raced if answer.status_code == 201]
    holder = next(m for m in raced if m.status_code == 201).request.content
    release(api, key, json.loads(holder)["device"])
    again = _activate_all_at_once(server, code, [device(f"Mac {n}") for n in range(20)])
    assert {(answer.status_code, answer.json()["code"]) for answer in again} == {
        (409, "transfer_limit_reached")
    }
    assert winner["devices_used"] == 1
