"""POST /api/v1/activations: the contract row, seats, and every error a device can meet."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from licensor.clock import Clock
from licensor.licensing import formats
from tests.licensing.factories import (
    activate,
    activation,
    device,
    license_file_verifies,
    signing_keys,
)
from tests.limits import LimitedServer
from tests.support import assert_problem

MakeCode = Callable[..., str]
BlockCode = Callable[..., None]

CONTRACT_FIELDS = {
    "license_key",
    "public_id",
    "plan",
    "status",
    "expires_at",
    "devices_used",
    "devices_max",
    "license_file",
}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _post(api: httpx.Client, code: str, machine: dict[str, str]) -> httpx.Response:
    return api.post("/api/v1/activations", json=activation(code, machine))


# --- success ---------------------------------------------------------------------------------


def test_a_fresh_code_activates_with_every_field_of_the_contract(
    api: httpx.Client, make_code: MakeCode, clock: Clock
) -> None:
    code = make_code("plus", devices_max=3, term_days=365)
    laptop = device()
    before = clock.now()

    response = _post(api, code, laptop)

    after = clock.now()
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert CONTRACT_FIELDS <= body.keys()
    assert formats.is_valid_license_key(body["license_key"])
    assert re.fullmatch(r"[0-9A-F]{32}", body["license_key"])
    assert re.fullmatch(r"LIC-[0-9A-Z]{4}-[0-9A-Z]{4}", body["public_id"])
    assert body["plan"] == "plus"
    assert body["status"] == "active"
    # The term starts at the first activation.
    assert before + timedelta(days=365) <= _moment(body["expires_at"])
    assert _moment(body["expires_at"]) <= after + timedelta(days=365)
    assert body["devices_used"] == 1
    assert body["devices_max"] == 3
    license_file = body["license_file"]
    assert license_file["format"] == "licensor-license/1"
    assert license_file_verifies(license_file, signing_keys(api))
    payload = license_file["payload"]
    assert payload["license_key"] == body["license_key"]
    assert payload["public_id"] == body["public_id"]
    assert payload["fingerprint"] == laptop["fingerprint"]
    assert payload["status"] == "active"
    assert _moment(payload["expires_at"]) == _moment(body["expires_at"])


def test_a_code_typed_carelessly_still_activates(api: httpx.Client, make_code: MakeCode) -> None:
    code = make_code()
    typed = f"  {code.lower().replace('-', ' ').replace('0', 'o').replace('1', 'l')} "

    assert _post(api, typed, device()).status_code == 201


def test_the_same_device_activating_again_reuses_its_seat(
    api: httpx.Client, make_code: MakeCode, clock: Clock
) -> None:
    code = make_code(devices_max=3)
    laptop = device()
    first = activate(api, code, laptop)
    clock.advance(timedelta(days=30))

    # An OS reinstall: same machine, same fingerprint, perhaps another name.
    again = activate(api, code, {**laptop, "name": "Laptop (reinstalled)"})

    assert again["devices_used"] == first["devices_used"] == 1
    assert again["license_key"] == first["license_key"]
    assert again["public_id"] == first["public_id"]
    # The term runs from the first activation, not from this one.
    assert again["expires_at"] == first["expires_at"]


def test_each_new_device_takes_a_seat_until_the_limit(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code(devices_max=3)
    machines = [device(f"PC {n}") for n in range(3)]

    used = [activate(api, code, machine)["devices_used"] for machine in machines]

    assert used == [1, 2, 3]


def test_a_device_over_the_limit_is_refused_with_device_limit_reached(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code(devices_max=2)
    first, second = device("One"), device("Two")
    activate(api, code, first)
    activate(api, code, second)

    assert_problem(_post(api, code, device("Three")), 409, "device_limit_reached")

    # A device that holds a seat is still welcome: it takes no new one.
    assert activate(api, code, first)["devices_used"] == 2


def test_a_never_used_code_does_not_expire_and_its_term_starts_when_used(
    api: httpx.Client, make_code: MakeCode, clock: Clock
) -> None:
    code = make_code(term_days=30)
    clock.advance(timedelta(days=5 * 365))
    used_at = clock.now()

    body = activate(api, code, device())

    assert body["status"] == "active"
    assert _moment(body["expires_at"]) - used_at >= timedelta(days=30)
    assert _moment(body["expires_at"]) - used_at < timedelta(days=30, minutes=1)


# --- errors ------------------------------------------------------------------------------------


def test_a_code_with_one_mistyped_symbol_is_malformed(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code()
    typo = ("A" if code[0] != "A" else "B") + code[1:]

    assert_problem(_post(api, typo, device()), 422, "code_malformed")


def test_a_code_with_two_neighbours_swapped_is_malformed(
    api: httpx.Client, make_code: MakeCode
) -> None:
    canonical = formats.normalize_code(make_code())
    position = next(i for i in range(19) if canonical[i] != canonical[i + 1])
    swapped = (
        canonical[:position]
        + canonical[position + 1]
        + canonical[position]
        + canonical[position + 2 :]
    )

    assert_problem(_post(api, swapped, device()), 422, "code_malformed")


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(lambda code: code[:-1], id="a symbol short"),
        pytest.param(lambda code: code + "7", id="a symbol too many"),
        pytest.param(lambda code: "U" + code[1:], id="the letter U"),
        pytest.param(lambda code: "", id="empty"),
    ],
)
def test_text_that_cannot_be_a_code_is_malformed(
    api: httpx.Client, make_code: MakeCode, typed: Callable[[str], str]
) -> None:
    assert_problem(_post(api, typed(make_code()), device()), 422, "code_malformed")


def test_a_well_formed_code_nobody_issued_is_unknown(
    api: httpx.Client, make_code: MakeCode
) -> None:
    make_code()  # the installation has codes, just not this one
    stranger = formats.format_code(formats.generate_code())

    assert_problem(_post(api, stranger, device()), 404, "code_unknown")


def test_a_blocked_code_cannot_activate(
    api: httpx.Client, make_code: MakeCode, block_code: BlockCode
) -> None:
    code = make_code()
    block_code(code, "refund")

    assert_problem(_post(api, code, device()), 403, "code_blocked")


def test_a_code_blocked_after_use_activates_no_device_at_all(
    api: httpx.Client, make_code: MakeCode, block_code: BlockCode
) -> None:
    code = make_code()
    laptop = device()
    activate(api, code, laptop)
    block_code(code, "leaked")

    assert_problem(_post(api, code, device("New PC")), 403, "code_blocked")
    assert_problem(_post(api, code, laptop), 403, "code_blocked")


def test_an_expired_license_cannot_activate(
    api: httpx.Client, make_code: MakeCode, clock: Clock
) -> None:
    code = make_code(term_days=30)
    laptop = device()
    activate(api, code, laptop)
    clock.advance(timedelta(days=31))

    assert_problem(_post(api, code, device("New PC")), 403, "license_expired")
    assert_problem(_post(api, code, laptop), 403, "license_expired")


def test_a_license_still_activates_the_day_before_it_expires(
    api: httpx.Client, make_code: MakeCode, clock: Clock
) -> None:
    code = make_code(term_days=30)
    activate(api, code, device())
    clock.advance(timedelta(days=29))

    assert activate(api, code, device("New PC"))["devices_used"] == 2


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"device": device()}, id="no code"),
        pytest.param({"activation_code": "X"}, id="no device"),
        pytest.param({"activation_code": 12345, "device": device()}, id="code not a string"),
        pytest.param({"activation_code": "A" * 65, "device": device()}, id="code too long"),
        pytest.param(
            {"activation_code": "A", "device": {**device(), "fingerprint": "short"}},
            id="fingerprint too short",
        ),
        pytest.param(
            {"activation_code": "A", "device": {**device(), "fingerprint": "a b/c" * 8}},
            id="fingerprint with odd characters",
        ),
        pytest.param({**activation("A", device()), "plan": "premium"}, id="unknown field"),
        pytest.param([], id="not an object"),
    ],
)
def test_a_request_of_the_wrong_shape_is_validation_failed(api: httpx.Client, body: Any) -> None:
    problem = assert_problem(api.post("/api/v1/activations", json=body), 422, "validation_failed")
    assert problem["errors"]


def test_a_body_that_is_not_json_is_validation_failed(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/activations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_failed")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "multipart/form-data; boundary=x",
    ],
)
def test_a_body_sent_as_another_type_than_json_is_unsupported_and_activates_nothing(
    api: httpx.Client, make_code: MakeCode, content_type: str
) -> None:
    code = make_code(devices_max=2)
    laptop = device()

    response = api.post(
        "/api/v1/activations",
        content=json.dumps(activation(code, laptop)).encode(),
        headers={"content-type": content_type},
    )

    assert_problem(response, 415, "unsupported_media_type")
    # The code is still unused: another device's activation takes the first seat.
    assert activate(api, code, device("Desktop"))["devices_used"] == 1


def test_an_unknown_path_and_a_wrong_method_are_problems_too(api: httpx.Client) -> None:
    assert_problem(api.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_problem(api.get("/api/v1/activations"), 405, "method_not_allowed")


# --- rate limit ---------------------------------------------------------------------------------


def test_the_fourth_activation_in_a_minute_is_rate_limited(
    limited_server: Callable[..., AbstractContextManager[LimitedServer]], make_code: MakeCode
) -> None:
    code = make_code(devices_max=5)
    laptop = device()
    with limited_server(activation_rate="3/minute") as server:
        license_key = activate(server.api, code, laptop)["license_key"]
        for _ in range(2):
            activate(server.api, code, laptop)

        refused = _post(server.api, code, laptop)

        assert_problem(refused, 429, "rate_limited")
        # The limiter's clock stands 15 s into its minute: 45 s until the window ends.
        assert refused.headers["retry-after"] == "45"
        # Another device behind the same address waits too ...
        assert_problem(_post(server.api, code, device()), 429, "rate_limited")
        # ... while validation, under a limit of its own, still answers.
        validation = {"license_key": license_key, "fingerprint": laptop["fingerprint"]}
        assert server.api.post("/api/v1/licenses/validate", json=validation).status_code == 200

        server.limiter_time.now += 45
        assert _post(server.api, code, laptop).status_code == 201


# --- the API description -----------------------------------------------------------------------


def test_the_openapi_document_lists_activation_validation_and_release(api: httpx.Client) -> None:
    response = api.get("/api/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {
        "/api/v1/activations",
        "/api/v1/licenses/validate",
        "/api/v1/activations/release",
    } <= paths.keys()
    assert "post" in paths["/api/v1/activations"]
    assert "201" in paths["/api/v1/activations"]["post"]["responses"]
