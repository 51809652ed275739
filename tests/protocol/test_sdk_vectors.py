"""The Python SDK against docs/protocol-vectors.json: pinned to the vectors' public key, it
accepts their license file and their signed answers, and rejects each of them with any
one byte of a value changed."""

from __future__ import annotations

import copy
import pathlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from licensor_client import PublicKeys, VerificationError, _machine, check_license_file
from licensor_client._proof import make_proof
from licensor_client._signing import verify_answer
from tests.protocol.test_vectors import VECTORS

Path = tuple[str | int, ...]


def pinned() -> PublicKeys:
    return PublicKeys.parse(VECTORS["key_pair"]["pinned"])


def checked_at() -> datetime:
    return datetime.fromisoformat(VECTORS["license_file"]["checked_at"].replace("Z", "+00:00"))


def leaves(value: Any, path: Path = ()) -> Iterator[Path]:
    """The path of every string and integer in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    elif isinstance(value, str | int) and not isinstance(value, bool):
        yield path


def with_one_byte_changed(document: dict[str, Any], path: Path) -> dict[str, Any]:
    """``document`` with the first character (or the last digit) of one value changed."""
    changed = copy.deepcopy(document)
    parent: Any = changed
    for step in path[:-1]:
        parent = parent[step]
    value = parent[path[-1]]
    if isinstance(value, int):
        parent[path[-1]] = value + 1 if value % 10 != 9 else value - 1
    else:
        first = value[:1] or "x"
        parent[path[-1]] = ("B" if first == "A" else "A") + value[1:]
    return changed


def test_the_sdk_accepts_the_vectors_license_file() -> None:
    vector = VECTORS["license_file"]
    license_file = check_license_file(
        pinned(), vector["file"], fingerprint=vector["fingerprint"], now=checked_at()
    )
    assert license_file.public_id == vector["file"]["payload"]["public_id"]


FILE = VECTORS["license_file"]["file"]


@pytest.mark.parametrize("path", list(leaves(FILE)), ids=str)
def test_the_sdk_rejects_the_license_file_with_one_byte_changed(path: Path) -> None:
    vector = VECTORS["license_file"]
    with pytest.raises(VerificationError):
        check_license_file(
            pinned(),
            with_one_byte_changed(FILE, path),
            fingerprint=vector["fingerprint"],
            now=checked_at(),
        )


@pytest.mark.parametrize("name", sorted(VECTORS["answers"]))
def test_the_sdk_accepts_the_vectors_answers(name: str) -> None:
    vector = VECTORS["answers"][name]
    answer = verify_answer(pinned(), vector["signed"], nonce=vector["body"]["nonce"])
    assert answer == vector["body"]
    if answer["valid"]:
        check_license_file(
            pinned(), answer["license_file"], fingerprint=vector["fingerprint"], now=checked_at()
        )


ANSWER_CHANGES = [
    (name, path)
    for name, vector in sorted(VECTORS["answers"].items())
    for path in leaves(vector["signed"])
]


@pytest.mark.parametrize(("name", "path"), ANSWER_CHANGES, ids=str)
def test_the_sdk_rejects_each_answer_with_one_byte_changed(name: str, path: Path) -> None:
    vector = VECTORS["answers"][name]
    with pytest.raises(VerificationError):
        verify_answer(
            pinned(),
            with_one_byte_changed(vector["signed"], path),
            nonce=vector["body"]["nonce"],
        )


def test_the_sdk_makes_the_device_vectors_fingerprint_and_components(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vector = VECTORS["device"]
    monkeypatch.delenv("LICENSOR_FINGERPRINT", raising=False)
    values = vector["values"]
    sources = {
        "_firmware_uuid": values["firmware"],
        "_network_card_identity": values["network_card"],
        "_os_identity": values["os"],
        "_disk_serial": values["disk"],
        "_board_serial": None,
        "_cpu_model": values["cpu"],
    }
    for function, value in sources.items():
        monkeypatch.setattr(_machine, function, lambda value=value: value)

    machine = _machine.this_machine(vector["app_id"], tmp_path)

    assert machine.fingerprint == vector["fingerprint"]
    assert dict(machine.components) == vector["components"]


def test_the_sdk_makes_the_vectors_license_proof() -> None:
    vector = VECTORS["license_proof"]
    device = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["device_private_seed_hex"]))
    payload = vector["payload"]
    made = make_proof(
        device,
        license_key=payload["license_key"],
        public_id=payload["public_id"],
        fingerprint=payload["fingerprint"],
        issued_at=datetime.fromisoformat(payload["issued_at"].replace("Z", "+00:00")),
    )
    assert made == vector["proof"]
