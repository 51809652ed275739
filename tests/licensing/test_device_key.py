"""The device's public key on its seat (``device.key`` at activation, issue 16 item 7):
kept as sent, learnt by a seat an older app took, never replaced once kept."""

from __future__ import annotations

import base64

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from licensor.models import Activation, Device
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, activate, device, try_activate


def new_key() -> tuple[bytes, str]:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    return raw, base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def seat_keys(open_unit: OpenUnit, fingerprint: str) -> list[bytes | None]:
    with open_unit() as unit:
        return list(
            unit.session.scalars(
                select(Activation.device_key)
                .join(Device, Device.id == Activation.device_id)
                .where(Device.fingerprint == fingerprint)
                .order_by(Activation.id)
            )
        )


def test_a_seat_keeps_the_first_key_its_device_sent(
    api: httpx.Client, make_code: MakeCode, open_unit: OpenUnit
) -> None:
    code = make_code("plus")
    raw, key = new_key()
    machine = device()
    activate(api, code, {**machine, "key": key})
    assert seat_keys(open_unit, machine["fingerprint"]) == [raw]

    # Whoever knows the fingerprint (and the code) activating again with a key of their
    # own gets the seat back, not the power to sign this device's proofs.
    _, other = new_key()
    activate(api, code, {**machine, "key": other})
    assert seat_keys(open_unit, machine["fingerprint"]) == [raw]


def test_a_seat_taken_without_a_key_learns_it_on_the_next_activation(
    api: httpx.Client, make_code: MakeCode, open_unit: OpenUnit
) -> None:
    code = make_code("plus")
    machine = device()
    activate(api, code, machine)  # an app older than device keys
    assert seat_keys(open_unit, machine["fingerprint"]) == [None]

    raw, key = new_key()
    activate(api, code, {**machine, "key": key})
    assert seat_keys(open_unit, machine["fingerprint"]) == [raw]  # the same seat


def test_a_key_that_is_not_32_bytes_of_base64url_is_refused(
    api: httpx.Client, make_code: MakeCode
) -> None:
    code = make_code("plus")
    _, key = new_key()
    for wrong in (key[:-1], key + "A", key[:-1] + "B", "+" + key[1:]):  # B: spare bits set
        response = try_activate(api, code, {**device(), "key": wrong})
        assert response.status_code == 422, wrong
        assert response.json()["code"] == "validation_failed"
