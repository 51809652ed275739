"""POST /api/v1/licenses/validate: always a signed 200 whose ``status`` says why.

Every answer here goes through ``validate()``, which insists on a 200, verifies the
signature with the published key and checks the nonce came back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature

from licensor.clock import Clock
from licensor.licensing import formats
from tests.licensing.factories import (
    LICENSE_CONTEXT,
    RESPONSE_CONTEXT,
    activate,
    answer_verifies,
    b64url_decode,
    canonical_json,
    device,
    license_file_verifies,
    signing_keys,
    validate,
)
from tests.limits import LimitedServer
from tests.support import assert_problem

MakeCode = Callable[..., str]
BlockCode = Callable[..., None]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _release(api: httpx.Client, license_key: str, fingerprint: str) -> None:
    response = api.post(
        "/api/v1/activations/release",
        json={"license_key": license_key, "fingerprint": fingerprint},
    )
    assert response.status_code == 200, response.text


# --- statuses ------------------------------------------------------------------------------------


def test_an_activated_device_is_told_its_license_is_active(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    activated = activate(api, make_code(devices_max=3), laptop)

    answer = validate(api, activated["license_key"], laptop["fingerprint"], nonce="n-42")

    assert answer["valid"] is True
    assert answer["status"] == "active"
    assert answer["nonce"] == "n-42"
    assert answer["public_id"] == activated["public_id"]
    assert answer["plan"] == "plus"
    assert answer["expires_at"] == activated["expires_at"]
    assert answer["devices_used"] == 1
    assert answer["devices_max"] == 3
    assert answer["issued_at"]
    # A fresh license file comes with it, for the next stretch offline.
    assert license_file_verifies(answer["license_file"], signing_keys(api))
    assert answer["license_file"]["payload"]["fingerprint"] == laptop["fingerprint"]


def test_a_license_key_typed_from_the_details_window_validates(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]

    typed = formats.format_license_key(key).lower()

    assert validate(api, typed, laptop["fingerprint"])["status"] == "active"


def test_a_device_without_a_seat_is_told_not_activated(
    api: httpx.Client, make_code: MakeCode
) -> None:
    key = activate(api, make_code(), device())["license_key"]

    answer = validate(api, key, device("Someone else")["fingerprint"])

    assert answer["valid"] is False
    assert answer["status"] == "not_activated"
    assert "license_file" not in answer


def test_a_released_device_is_told_released(api: httpx.Client, make_code: MakeCode) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]
    _release(api, key, laptop["fingerprint"])

    answer = validate(api, key, laptop["fingerprint"])

    assert answer["valid"] is False
    assert answer["status"] == "released"
    assert answer["devices_used"] == 0
    assert "license_file" not in answer


def test_a_device_that_activates_again_after_release_is_active_again(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code()
    laptop = device()
    key = activate(api, code, laptop)["license_key"]
    _release(api, key, laptop["fingerprint"])
    activate(api, code, laptop)

    assert validate(api, key, laptop["fingerprint"])["status"] == "active"


def test_a_blocked_license_is_told_blocked(
    api: httpx.Client, make_code: MakeCode, block_code: BlockCode
) -> None:
    code = make_code()
    laptop = device()
    key = activate(api, code, laptop)["license_key"]
    block_code(code, "chargeback")

    answer = validate(api, key, laptop["fingerprint"])

    assert answer["valid"] is False
    assert answer["status"] == "blocked"
    assert "license_file" not in answer


def test_an_expired_license_is_told_expired(
    api: httpx.Client, make_code: MakeCode, clock: Clock
) -> None:
    laptop = device()
    key = activate(api, make_code(term_days=30), laptop)["license_key"]
    assert validate(api, key, laptop["fingerprint"])["status"] == "active"

    clock.advance(timedelta(days=30, seconds=1))
    answer = validate(api, key, laptop["fingerprint"])

    assert answer["valid"] is False
    assert answer["status"] == "expired"
    assert "license_file" not in answer


@pytest.mark.parametrize(
    "license_key",
    [
        pytest.param(formats.generate_license_key(), id="well formed, never issued"),
        pytest.param(formats.generate_license_key()[:-1] + "G", id="not hexadecimal"),
        pytest.param("hello", id="not a key at all"),
        pytest.param("", id="empty"),
    ],
)
def test_a_key_the_server_does_not_know_is_told_unknown(
    api: httpx.Client, license_key: str
) -> None:
    answer = validate(api, license_key, device()["fingerprint"])

    assert answer["valid"] is False
    assert answer["status"] == "unknown"
    assert "public_id" not in answer


def test_a_mistyped_key_of_a_real_license_is_told_unknown(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]
    typo = key[:-1] + ("0" if key[-1] != "0" else "1")

    assert validate(api, typo, laptop["fingerprint"])["status"] == "unknown"


# --- signatures ----------------------------------------------------------------------------------


def test_every_flipped_byte_of_an_answer_breaks_its_signature(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]
    keys = signing_keys(api)
    response = api.post(
        "/api/v1/licenses/validate",
        json={"license_key": key, "fingerprint": laptop["fingerprint"], "nonce": "n-1"},
    )
    raw = response.content
    assert answer_verifies(raw, keys)
    signature_at = raw.index(b'"signature":"')
    signature_end = raw.index(b'"', signature_at + len(b'"signature":"'))

    flips = 0
    for position, byte in enumerate(raw):
        if signature_at <= position <= signature_end or not chr(byte).isalnum():
            continue
        # Flipping the low bit keeps an ASCII letter or digit printable and JSON valid.
        tampered = raw[:position] + bytes([byte ^ 1]) + raw[position + 1 :]
        assert not answer_verifies(tampered, keys), tampered[max(0, position - 30) : position + 30]
        flips += 1
    assert flips > 500  # the whole answer, license file included, was tried


def test_a_forged_verdict_or_a_replayed_nonce_does_not_verify(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]
    keys = signing_keys(api)
    answer = validate(api, key, device("Not activated")["fingerprint"], nonce="first")
    assert answer["valid"] is False

    forged = {**answer, "valid": True, "status": "active"}
    replayed = {**answer, "nonce": "second"}

    assert not answer_verifies(json.dumps(forged).encode(), keys)
    assert not answer_verifies(json.dumps(replayed).encode(), keys)
    assert answer_verifies(json.dumps(answer).encode(), keys)


def test_a_corrupted_or_foreign_signature_does_not_verify(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    key = activate(api, make_code(), laptop)["license_key"]
    keys = signing_keys(api)
    answer = validate(api, key, laptop["fingerprint"])
    key_id, _, signature = answer["signature"].rpartition(".")
    raw_signature = bytearray(b64url_decode(signature))
    raw_signature[10] ^= 0x40
    corrupted = {**answer, "signature": f"{key_id}.{_b64url(bytes(raw_signature))}"}
    unknown_key = {**answer, "signature": f"not-{key_id}.{signature}"}

    assert not answer_verifies(json.dumps(corrupted).encode(), keys)
    assert not answer_verifies(json.dumps(unknown_key).encode(), keys)


def test_a_license_file_cannot_pass_for_an_answer_nor_the_reverse(
    api: httpx.Client, make_code: MakeCode
) -> None:
    laptop = device()
    activated = activate(api, make_code(), laptop)
    keys = signing_keys(api)
    license_file = activated["license_file"]
    public_key = keys[license_file["key_id"]]
    payload = canonical_json(license_file["payload"])
    signature = b64url_decode(license_file["signature"])

    public_key.verify(signature, LICENSE_CONTEXT + payload)
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, RESPONSE_CONTEXT + payload)


def test_a_tampered_license_file_does_not_verify(api: httpx.Client, make_code: MakeCode) -> None:
    laptop = device()
    license_file = activate(api, make_code(devices_max=3), laptop)["license_file"]
    keys = signing_keys(api)
    assert license_file_verifies(license_file, keys)

    for field, value in [
        ("devices_max", 99),
        ("expires_at", "2099-01-01T00:00:00Z"),
        ("fingerprint", device()["fingerprint"]),
        ("status", "blocked"),
    ]:
        tampered = {**license_file, "payload": {**license_file["payload"], field: value}}
        assert not license_file_verifies(tampered, keys), field


def test_the_published_signing_key_is_the_one_that_signs(api: httpx.Client) -> None:
    keys = signing_keys(api)
    answer = validate(api, formats.generate_license_key(), device()["fingerprint"])

    assert answer["signature"].rpartition(".")[0] in keys


# --- request shape and rate limit -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"fingerprint": "f" * 32}, id="no license key"),
        pytest.param({"license_key": "A"}, id="no fingerprint"),
        pytest.param({"license_key": "A", "fingerprint": ""}, id="empty fingerprint"),
        pytest.param({"license_key": "A", "fingerprint": "f", "nonce": "n" * 129}, id="long nonce"),
        pytest.param({"license_key": "A", "fingerprint": "f", "extra": 1}, id="unknown field"),
    ],
)
def test_a_validation_request_of_the_wrong_shape_is_validation_failed(
    api: httpx.Client, body: dict[str, Any]
) -> None:
    response = api.post("/api/v1/licenses/validate", json=body)
    assert_problem(response, 422, "validation_failed")


def test_the_fourth_validation_in_a_minute_is_rate_limited(
    limited_server: Callable[..., AbstractContextManager[LimitedServer]], make_code: MakeCode
) -> None:
    laptop = device()
    with limited_server(validation_rate="3/minute") as server:
        key = activate(server.api, make_code(), laptop)["license_key"]
        for _ in range(3):
            assert validate(server.api, key, laptop["fingerprint"])["valid"] is True

        refused = server.api.post(
            "/api/v1/licenses/validate",
            json={"license_key": key, "fingerprint": laptop["fingerprint"]},
        )

        assert_problem(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "45"
        server.limiter_time.now += 45
        assert validate(server.api, key, laptop["fingerprint"])["valid"] is True
