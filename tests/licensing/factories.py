"""Licensing factories: plans and codes made through the service, as the CLI makes them;
and what a device does with the answers (activate, validate, verify signatures).

The fixtures reach every test directory through ``pytest_plugins`` in ``tests/conftest.py``;
the plain helpers are imported from here by the tests that use them.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from licensor.licensing import formats
from licensor.models import CodeOrigin
from tests.conftest import OpenUnit

# The signing scheme as an app implements it (docs/signing.md), written out here rather
# than imported from the server, so the tests check the server against the contract.
LICENSE_CONTEXT = b"licensor-license/1\n"
RESPONSE_CONTEXT = b"licensor-response/1\n"

MakePlan = Callable[..., str]  # (code="plus", *, term_days=365, devices_max=3) -> plan code
MakeCode = Callable[..., str]  # (plan="plus", *, devices_max=3, term_days=365) -> code
BlockCode = Callable[..., None]  # (code, reason="refund")


@pytest.fixture
def make_plan(open_unit: OpenUnit) -> MakePlan:
    def make(
        code: str = "plus",
        *,
        term_days: int = 365,
        devices_max: int = 3,
        price_cents: int | None = None,
        subscription_price_cents: int | None = None,
        entitlements: list[str] | None = None,
    ) -> str:
        with open_unit() as unit:
            unit.plans.create(
                code=code,
                name=code.title(),
                term_days=term_days,
                devices_max=devices_max,
                price_cents=price_cents,
                subscription_price_cents=subscription_price_cents,
                entitlements=entitlements,
            )
        return code

    return make


@pytest.fixture
def make_code(open_unit: OpenUnit, make_plan: MakePlan) -> MakeCode:
    """A fresh activation code (formatted) for a plan, made if it does not exist yet."""
    made: set[str] = set()

    def make(plan: str = "plus", *, devices_max: int = 3, term_days: int = 365) -> str:
        if plan not in made:
            make_plan(plan, devices_max=devices_max, term_days=term_days)
            made.add(plan)
        with open_unit() as unit:
            _, canonical = unit.codes.create_code(unit.plans.by_code(plan), CodeOrigin.MANUAL)
        return formats.format_code(canonical)

    return make


MakeFloating = Callable[..., str]  # (plan="lab", *, leases=2, lease_seconds=600) -> code


@pytest.fixture
def floating_code(open_unit: OpenUnit) -> MakeFloating:
    """A code of a floating plan (``lease_seconds``): its limit counts leases held at once."""
    made: set[str] = set()

    def make(plan: str = "lab", *, leases: int = 2, lease_seconds: int = 600) -> str:
        with open_unit() as unit:
            if plan not in made:
                unit.plans.create(
                    code=plan,
                    name=plan.title(),
                    term_days=365,
                    devices_max=leases,
                    lease_seconds=lease_seconds,
                )
                made.add(plan)
            _, canonical = unit.codes.create_code(unit.plans.by_code(plan), CodeOrigin.MANUAL)
        return formats.format_code(canonical)

    return make


@pytest.fixture
def block_code(open_unit: OpenUnit) -> BlockCode:
    """Block a code the way the vendor does (``licensor codes block``), through the service."""

    def block(code: str, reason: str = "refund") -> None:
        with open_unit() as unit:
            unit.codes.block_code(code, reason=reason, actor="admin@example.com")

    return block


# --- what a device does -----------------------------------------------------------------------


def device(name: str = "Laptop") -> dict[str, str]:
    return {"fingerprint": secrets.token_hex(16), "name": name, "platform": "linux"}


def activation(code: str, machine: dict[str, str]) -> dict[str, Any]:
    return {"activation_code": code, "device": machine}


def try_activate(
    api: httpx.Client, code: str, machine: dict[str, str] | None = None
) -> httpx.Response:
    """Activate as an app does (on a new device unless told which); the answer, whatever
    it is."""
    return api.post("/api/v1/activations", json=activation(code, machine or device()))


def activate(api: httpx.Client, code: str, machine: dict[str, str]) -> dict[str, Any]:
    """Activate as an app does and insist it worked; the 201 body."""
    response = api.post("/api/v1/activations", json=activation(code, machine))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- signatures, verified the way an app verifies them ----------------------------------------


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_keys(api: httpx.Client) -> dict[str, Ed25519PublicKey]:
    """The server's public keys by key id, from ``GET /api/v1/signing-keys``."""
    response = api.get("/api/v1/signing-keys")
    assert response.status_code == 200, response.text
    published = response.json()
    assert published["algorithm"] == "Ed25519"
    assert published["current"] in published["keys"]
    return {
        key_id: Ed25519PublicKey.from_public_bytes(b64url_decode(encoded))
        for key_id, encoded in published["keys"].items()
    }


def _verifies(key: Ed25519PublicKey | None, signature: str, message: bytes) -> bool:
    if key is None:
        return False
    try:
        key.verify(b64url_decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def license_file_verifies(license_file: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> bool:
    return license_file.get("format") == "licensor-license/1" and _verifies(
        keys.get(license_file["key_id"]),
        license_file["signature"],
        LICENSE_CONTEXT + canonical_json(license_file["payload"]),
    )


def answer_verifies(raw: bytes, keys: dict[str, Ed25519PublicKey]) -> bool:
    """Whether the bytes of a validation answer carry a good signature over the rest."""
    try:
        body = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8
        return False
    if not isinstance(body, dict) or not isinstance(body.get("signature"), str):
        return False
    key_id, _, signature = body.pop("signature").rpartition(".")
    return _verifies(keys.get(key_id), signature, RESPONSE_CONTEXT + canonical_json(body))


def validate(
    api: httpx.Client, license_key: str, fingerprint: str, nonce: str | None = None
) -> dict[str, Any]:
    """Validate as an app does: always a 200, signed, echoing the nonce; the body."""
    nonce = nonce or secrets.token_urlsafe(16)
    response = api.post(
        "/api/v1/licenses/validate",
        json={"license_key": license_key, "fingerprint": fingerprint, "nonce": nonce},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert answer_verifies(response.content, signing_keys(api))
    body: dict[str, Any] = response.json()
    assert body["nonce"] == nonce
    return body


def seats_used(api: httpx.Client, license_key: str, fingerprint: str) -> int:
    """The server's count of devices holding the license, as a validation tells it."""
    answer = api.post(
        "/api/v1/licenses/validate", json={"license_key": license_key, "fingerprint": fingerprint}
    ).json()
    used: int = answer["devices_used"]
    return used


def request_release_link(
    api: httpx.Client,
    machine: dict[str, str],
    *,
    activation_code: str | None = None,
    license_key: str | None = None,
) -> httpx.Response:
    """Ask for the link that frees a seat, as an app that met the device limit does."""
    body: dict[str, Any] = {"device": machine}
    if activation_code is not None:
        body["activation_code"] = activation_code
    if license_key is not None:
        body["license_key"] = license_key
    return api.post("/api/v1/licenses/seat-release-link", json=body)
