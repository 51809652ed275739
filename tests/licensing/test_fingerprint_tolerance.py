"""A device whose fingerprint changed with one of its parts (a new network card) keeps its
seat; two parts changed is a new device; matching is only among the license's own seats."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.clock import Clock
from licensor.db import Database
from licensor_client import LicenseClient
from licensor_client import _machine as sdk_machine
from tests.licensing.factories import activate, activation, device, validate
from tests.support import assert_problem, audit_events

MakeCode = Callable[..., str]


def _parts() -> dict[str, str]:
    return {
        name: secrets.token_hex(32) for name in ("firmware", "network_card", "os", "disk", "cpu")
    }


def _machine(parts: dict[str, str], name: str = "Laptop") -> dict[str, Any]:
    """A device as a new SDK sends it: a fingerprint and the parts it is built from."""
    return {**device(name), "components": parts}


def _changed(parts: dict[str, str], *names: str) -> dict[str, str]:
    return {**parts, **{name: secrets.token_hex(32) for name in names}}


def _validate(api: httpx.Client, license_key: str, machine: dict[str, Any]) -> dict[str, Any]:
    body = {
        "license_key": license_key,
        "fingerprint": machine["fingerprint"],
        "components": machine.get("components"),
        "nonce": "n",
    }
    response = api.post("/api/v1/licenses/validate", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_one_part_changed_keeps_the_seat_at_activation(
    api: httpx.Client, make_code: MakeCode, database: Database
) -> None:
    code = make_code("solo", devices_max=1)
    parts = _parts()
    before = activate(api, code, _machine(parts))
    after_new_card = _machine(_changed(parts, "network_card"))

    again = activate(api, code, after_new_card)

    assert again["devices_used"] == 1
    assert again["license_file"]["payload"]["fingerprint"] == after_new_card["fingerprint"]
    assert validate(api, before["license_key"], after_new_card["fingerprint"])["valid"]
    # The old fingerprint is no device of the license any more: the seat moved with it.
    assert not validate(
        api, before["license_key"], before["license_file"]["payload"]["fingerprint"]
    )["valid"]
    (event,) = audit_events(database, "licensing.device_recognised")
    assert event.details["changed"] == ["network_card"]


def test_one_part_changed_is_recognised_by_validation(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code(devices_max=2)
    parts = _parts()
    activated = activate(api, code, _machine(parts))
    new_disk = _machine(_changed(parts, "disk"))

    answer = _validate(api, activated["license_key"], new_disk)

    assert answer["valid"], answer
    assert answer["devices_used"] == 1
    assert answer["license_file"]["payload"]["fingerprint"] == new_disk["fingerprint"]
    # The common case afterwards: the new fingerprint alone holds the seat.
    assert validate(api, activated["license_key"], new_disk["fingerprint"])["valid"]


def test_two_parts_changed_is_a_new_device(api: httpx.Client, make_code: MakeCode) -> None:
    code = make_code("solo", devices_max=1)
    parts = _parts()
    activated = activate(api, code, _machine(parts))
    other = _machine(_changed(parts, "network_card", "disk"))

    assert not _validate(api, activated["license_key"], other)["valid"]
    refused = api.post("/api/v1/activations", json=activation(code, other))

    assert_problem(refused, 409, "device_limit_reached")


def test_two_parts_changed_takes_a_second_seat_below_the_limit(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code(devices_max=3)
    parts = _parts()
    activate(api, code, _machine(parts))

    second = activate(api, code, _machine(_changed(parts, "os", "firmware")))

    assert second["devices_used"] == 2


def test_without_parts_a_new_fingerprint_is_a_new_device_as_before(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code("solo", devices_max=1)
    parts = _parts()
    activated = activate(api, code, _machine(parts))
    old_sdk = device()  # no components: matched by the fingerprint alone

    assert validate(api, activated["license_key"], old_sdk["fingerprint"])["status"] == (
        "not_activated"
    )
    assert_problem(
        api.post("/api/v1/activations", json=activation(code, old_sdk)), 409, "device_limit_reached"
    )
    # And an old SDK's device with no parts kept is never matched by parts sent later.
    bare = make_code("solo", devices_max=1)
    first = device()
    activate(api, bare, first)
    assert_problem(
        api.post("/api/v1/activations", json=activation(bare, _machine(_parts()))),
        409,
        "device_limit_reached",
    )


def test_another_licenses_device_is_never_matched(
    api: httpx.Client, make_code: MakeCode, database: Database
) -> None:
    parts = _parts()
    victim = activate(api, make_code(devices_max=2), _machine(parts, "Victim"))
    thief_code = make_code("solo", devices_max=1)
    thief = activate(api, thief_code, _machine(_parts(), "Thief"))
    # The victim's parts are known to the thief, all but one: they match no seat of the
    # thief's license, and the victim's seat stays where it is.
    lookalike = _machine(_changed(parts, "os"))

    assert not _validate(api, thief["license_key"], lookalike)["valid"]
    assert_problem(
        api.post("/api/v1/activations", json=activation(thief_code, lookalike)),
        409,
        "device_limit_reached",
    )
    assert not audit_events(database, "licensing.device_recognised")
    victim_fingerprint = victim["license_file"]["payload"]["fingerprint"]
    assert validate(api, victim["license_key"], victim_fingerprint)["valid"]


def test_release_finds_the_seat_by_its_parts(api: httpx.Client, make_code: MakeCode) -> None:
    code = make_code("solo", devices_max=1)
    parts = _parts()
    activated = activate(api, code, _machine(parts))
    new_card = _machine(_changed(parts, "network_card"))

    released = api.post(
        "/api/v1/activations/release",
        json={
            "license_key": activated["license_key"],
            "fingerprint": new_card["fingerprint"],
            "components": new_card["components"],
        },
    )

    assert released.status_code == 200, released.text
    assert released.json()["devices_used"] == 0


def test_the_sdk_keeps_its_seat_after_a_new_network_card(
    server: str,
    api: httpx.Client,
    make_code: MakeCode,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LICENSOR_FINGERPRINT", raising=False)
    keys = ",".join(
        f"{key_id}:{key}" for key_id, key in api.get("/api/v1/signing-keys").json()["keys"].items()
    )
    parts = {
        "firmware": None,
        "os": "0f6b3c7e1a9d",
        "disk": "S4EWNX0R1",
        "board": None,
        "cpu": "Ryzen",
    }

    def machine_with(card: str) -> LicenseClient:
        for name, value in {**parts, "network_card": card}.items():
            source = {
                "firmware": "_firmware_uuid",
                "network_card": "_network_card_identity",
                "os": "_os_identity",
                "disk": "_disk_serial",
                "board": "_board_serial",
                "cpu": "_cpu_model",
            }[name]
            monkeypatch.setattr(sdk_machine, source, lambda value=value: value)
        monkeypatch.setattr(sdk_machine, "_network_identity", lambda: None)
        return LicenseClient(
            server,
            keys,
            app_id="licensor-tests",
            state_dir=tmp_path / "state",
            clock=clock.now,
            timeout=10,
        )

    code = make_code("solo", devices_max=1)
    with machine_with("a4:c3:f0:12:34:56") as before:
        activated = before.activate(code)
        old_fingerprint = before.fingerprint

    with machine_with("3c:7c:3f:aa:bb:cc") as after:
        assert after.fingerprint != old_fingerprint
        info = after.status()
        assert info.valid
        assert info.devices_used == 1
        # The license file now names the new fingerprint: offline checks pass here.
        assert after.validate_offline().valid
    assert not validate(api, activated.license_key, old_fingerprint)["valid"]


def test_requests_racing_with_the_new_fingerprint_all_find_the_one_seat(
    api: httpx.Client, make_code: MakeCode, database: Database
) -> None:
    code = make_code("solo", devices_max=1)
    parts = _parts()
    activated = activate(api, code, _machine(parts))
    new_card = _machine(_changed(parts, "network_card"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda _: _validate(api, activated["license_key"], new_card), range(8))
        )

    assert all(answer["valid"] for answer in answers), answers
    assert {answer["devices_used"] for answer in answers} == {1}
    assert len(audit_events(database, "licensing.device_recognised")) == 1


def test_a_fingerprint_known_from_another_license_takes_over_only_this_licenses_seat(
    api: httpx.Client, make_code: MakeCode
) -> None:
    parts = _parts()
    new_card = _machine(_changed(parts, "network_card"))
    # Another license took a seat on that fingerprint first, from an app sending no parts.
    other = activate(
        api, make_code(devices_max=2), {**device(), "fingerprint": new_card["fingerprint"]}
    )
    this = activate(api, make_code("solo", devices_max=1), _machine(parts))
    old_fingerprint = this["license_file"]["payload"]["fingerprint"]

    answer = _validate(api, this["license_key"], new_card)

    assert answer["valid"], answer
    assert answer["devices_used"] == 1
    assert not validate(api, this["license_key"], old_fingerprint)["valid"]
    assert validate(api, other["license_key"], new_card["fingerprint"])["valid"]


def test_recognised_through_one_license_the_machines_other_licenses_stay_on_it(
    api: httpx.Client, make_code: MakeCode
) -> None:
    parts = _parts()
    owner = _machine(parts, "Owner's PC")
    leaked = activate(api, make_code("solo", devices_max=2), owner)  # its key in a screenshot
    kept = activate(api, make_code("solo", devices_max=2), owner)
    # A fingerprint is no secret: someone activates their own code under the owner's,
    # sending their own machine's parts, then validates the leaked key as their machine.
    stranger_parts = _parts()
    posing = _machine(stranger_parts, "Stranger")
    activate(api, make_code("solo", devices_max=2), {**posing, "fingerprint": owner["fingerprint"]})
    stranger = _machine(stranger_parts, "Stranger")
    _validate(api, leaked["license_key"], stranger)

    # Whatever that did to the leaked license, the owner's other license, whose key the
    # stranger never had, still holds its seat on the owner's machine.
    assert _validate(api, kept["license_key"], owner)["valid"] is True
