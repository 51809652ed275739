"""POST /api/v1/activations/release: freeing a seat is how a license moves to a new device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from licensor.licensing import formats
from tests.licensing.factories import activate, activation, device, validate
from tests.support import assert_problem

MakeCode = Callable[..., str]


def _release(api: httpx.Client, license_key: str, fingerprint: str) -> httpx.Response:
    return api.post(
        "/api/v1/activations/release",
        json={"license_key": license_key, "fingerprint": fingerprint},
    )


def _released(api: httpx.Client, license_key: str, fingerprint: str) -> dict[str, Any]:
    response = _release(api, license_key, fingerprint)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def test_releasing_the_old_device_lets_the_new_one_activate(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code("solo", devices_max=1)
    old, new = device("Old PC"), device("New PC")
    activated = activate(api, code, old)
    refused = api.post("/api/v1/activations", json=activation(code, new))
    assert_problem(refused, 409, "device_limit_reached")

    released = _released(api, activated["license_key"], old["fingerprint"])

    assert released == {
        "status": "released",
        "public_id": activated["public_id"],
        "devices_used": 0,
        "devices_max": 1,
    }
    moved = activate(api, code, new)
    assert moved["license_key"] == activated["license_key"]
    assert moved["devices_used"] == 1
    assert validate(api, moved["license_key"], new["fingerprint"])["status"] == "active"
    assert validate(api, moved["license_key"], old["fingerprint"])["status"] == "released"


def test_releasing_twice_changes_nothing_the_second_time(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code(devices_max=3)
    laptop, desktop = device("Laptop"), device("Desktop")
    key = activate(api, code, laptop)["license_key"]
    activate(api, code, desktop)

    first = _released(api, key, laptop["fingerprint"])
    second = _released(api, key, laptop["fingerprint"])

    assert first == second
    assert second["devices_used"] == 1  # the desktop keeps its seat
    assert validate(api, key, desktop["fingerprint"])["status"] == "active"


def test_releasing_a_device_that_holds_no_seat_changes_nothing(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]

    released = _released(api, key, device("Stranger")["fingerprint"])

    assert released["devices_used"] == 1
    assert validate(api, key, laptop["fingerprint"])["status"] == "active"


def test_a_license_key_as_shown_in_the_details_window_releases(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]

    released = _released(api, formats.format_license_key(key).lower(), laptop["fingerprint"])

    assert released["devices_used"] == 0


def test_a_released_device_can_activate_again(api: httpx.Client, make_code: MakeCode) -> None:
    code = make_code(devices_max=1)
    laptop = device()
    key = activate(api, code, laptop)["license_key"]
    _released(api, key, laptop["fingerprint"])

    assert activate(api, code, laptop)["devices_used"] == 1


def test_a_mistyped_license_key_is_malformed(api: httpx.Client, make_code: MakeCode) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]
    typo = ("1" if key[0] != "1" else "2") + key[1:]

    assert_problem(_release(api, typo, laptop["fingerprint"]), 422, "license_key_malformed")
    # Nothing was released by the failed attempt.
    assert validate(api, key, laptop["fingerprint"])["status"] == "active"


@pytest.mark.parametrize(
    "license_key",
    [
        pytest.param("", id="empty"),
        pytest.param("0123", id="too short"),
        pytest.param("Z" * 32, id="not hexadecimal"),
        pytest.param(formats.format_code(formats.generate_code()), id="an activation code"),
    ],
)
def test_text_that_cannot_be_a_license_key_is_malformed(
    api: httpx.Client, license_key: str
) -> None:
    response = _release(api, license_key, device()["fingerprint"])
    assert_problem(response, 422, "license_key_malformed")


def test_a_well_formed_key_nobody_issued_is_unknown(api: httpx.Client, make_code: MakeCode) -> None:
    activate(api, make_code(), device())
    stranger = formats.generate_license_key()

    assert_problem(_release(api, stranger, device()["fingerprint"]), 404, "license_unknown")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"fingerprint": "f" * 32}, id="no license key"),
        pytest.param({"license_key": "A"}, id="no fingerprint"),
        pytest.param({"license_key": "A", "fingerprint": "f" * 129}, id="long fingerprint"),
        pytest.param({"license_key": "A", "fingerprint": "f", "device": {}}, id="unknown field"),
    ],
)
def test_a_release_request_of_the_wrong_shape_is_validation_failed(
    api: httpx.Client, body: dict[str, Any]
) -> None:
    response = api.post("/api/v1/activations/release", json=body)
    assert_problem(response, 422, "validation_failed")
