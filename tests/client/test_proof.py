"""``licensor-client proof FILE``: the license proof a customer sends to support, signed by
the key this device made for itself and sent at activation (docs/protocol.md). Checked
here with ``cryptography`` and the key the server kept on the seat, not with Licensor's
own code."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from licensor.models import Activation, Device
from tests.client.test_cli import Device as Machine
from tests.conftest import OpenUnit


@pytest.fixture
def laptop(server: str, tmp_path: Path) -> Machine:
    return Machine(server, tmp_path / "laptop" / "state", "cli-proof-laptop-0123456789", tmp_path)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_proof_saves_a_proof_the_seats_key_verifies(
    laptop: Machine, make_code: Callable[..., str], open_unit: OpenUnit
) -> None:
    status, activated = laptop.json("activate", make_code())
    assert status == 0
    target = laptop.cwd / "license-proof.txt"

    ran = laptop.run("proof", str(target))

    assert ran.returncode == 0, ran.stderr
    assert "Saved a license proof" in ran.stdout
    proof = target.read_text().strip()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # it carries the license key
    prefix, payload, signature = proof.split(".")
    assert prefix == "LP1"
    fields = json.loads(b64url_decode(payload))
    assert fields["license_key"] == activated["license_key"]
    assert fields["public_id"] == activated["public_id"]
    assert fields["fingerprint"] == laptop.fingerprint
    assert fields["issued_at"].endswith("Z")
    with open_unit() as unit:
        seat_key = unit.session.scalar(
            select(Activation.device_key)
            .join(Device, Device.id == Activation.device_id)
            .where(Device.fingerprint == laptop.fingerprint)
        )
    assert seat_key is not None
    Ed25519PublicKey.from_public_bytes(seat_key).verify(
        b64url_decode(signature), b64url_decode(payload)
    )
    # The private half stays in the state directory, sealed: never in clear.
    stored = (laptop.state_dir / "device-key").read_text()
    assert "private_key" in stored
    assert "ciphertext" in stored

    status, printed = laptop.json("proof", "-")
    assert status == 0
    assert printed["proof"].split(".")[1] != ""  # a fresh one, from the same key
    key = Ed25519PublicKey.from_public_bytes(seat_key)
    _, payload, signature = printed["proof"].split(".")
    key.verify(b64url_decode(signature), b64url_decode(payload))


def test_proof_without_a_license_exits_14(laptop: Machine) -> None:
    ran = laptop.run("proof", str(laptop.cwd / "proof.txt"))
    assert ran.returncode == 14
    assert not (laptop.cwd / "proof.txt").exists()
