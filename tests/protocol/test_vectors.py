"""docs/protocol-vectors.json checked as another language's client would check it: with
the ``cryptography`` library and the standard ``json`` module only. Nothing of Licensor
is imported here (issue 16, item 11), so a mistake shared by the server and the SDK
cannot hide in the vectors."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "docs" / "protocol-vectors.json").read_text(encoding="utf-8")
)
LICENSE_CONTEXT = b"licensor-license/1\n"
RESPONSE_CONTEXT = b"licensor-response/1\n"


def canonical(value: Any) -> bytes:
    """docs/protocol.md's canonical JSON, as the doc writes it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key() -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(VECTORS["key_pair"]["public_key_hex"]))


def test_the_key_pair_is_one_pair_in_hex_and_base64url() -> None:
    pair = VECTORS["key_pair"]
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(pair["private_seed_hex"]))
    raw = private.public_key().public_bytes_raw()
    assert raw.hex() == pair["public_key_hex"]
    assert b64url_decode(pair["public_key_b64url"]) == raw
    assert "=" not in pair["public_key_b64url"]
    assert pair["pinned"] == f"{pair['key_id']}:{pair['public_key_b64url']}"


@pytest.mark.parametrize("vector", VECTORS["canonical_json"])
def test_canonical_json_gives_the_bytes_written(vector: dict[str, Any]) -> None:
    assert canonical(vector["value"]).hex() == vector["canonical_hex"]
    assert canonical(vector["value"]).decode() == vector["canonical_text"]


def test_the_license_file_signature_covers_the_context_line_and_the_payload() -> None:
    vector = VECTORS["license_file"]
    document = vector["file"]
    message = LICENSE_CONTEXT + canonical(document["payload"])
    assert message.hex() == vector["message_hex"]
    signature = b64url_decode(document["signature"])
    assert signature.hex() == vector["signature_hex"]
    public_key().verify(signature, message)
    # Ed25519 is deterministic: the private key gives the very signature.
    private = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex(VECTORS["key_pair"]["private_seed_hex"])
    )
    assert private.sign(message) == signature
    assert document["format"] == "licensor-license/1"
    assert document["key_id"] == VECTORS["key_pair"]["key_id"]
    assert document["payload"]["entitlements"] == sorted(document["payload"]["entitlements"])


@pytest.mark.parametrize("name", sorted(VECTORS["answers"]))
def test_each_answer_is_signed_over_every_other_field(name: str) -> None:
    vector = VECTORS["answers"][name]
    signed = json.loads(vector["as_sent"])
    assert signed == vector["signed"]
    key_id, _, value = signed.pop("signature").partition(".")
    assert key_id == VECTORS["key_pair"]["key_id"]
    assert signed == vector["body"]
    message = RESPONSE_CONTEXT + canonical(signed)
    assert message.hex() == vector["message_hex"]
    assert b64url_decode(value).hex() == vector["signature_hex"]
    public_key().verify(b64url_decode(value), message)
    # The server sends the canonical form with ``signature`` appended last.
    assert vector["as_sent"].encode().startswith(canonical(signed)[:-1] + b',"signature":"')


def test_a_changed_byte_breaks_every_signature() -> None:
    document = VECTORS["license_file"]["file"]
    changed = {**document["payload"], "devices_max": 30}
    with pytest.raises(InvalidSignature):
        public_key().verify(
            b64url_decode(document["signature"]), LICENSE_CONTEXT + canonical(changed)
        )
    for vector in VECTORS["answers"].values():
        body = {**vector["body"], "valid": not vector["body"]["valid"]}
        with pytest.raises(InvalidSignature):
            public_key().verify(
                bytes.fromhex(vector["signature_hex"]), RESPONSE_CONTEXT + canonical(body)
            )
        # The contexts keep an answer from passing for a license file, and the reverse.
        with pytest.raises(InvalidSignature):
            public_key().verify(
                bytes.fromhex(vector["signature_hex"]), LICENSE_CONTEXT + canonical(vector["body"])
            )


def test_the_device_vector_hashes_its_identity_and_each_component_as_written() -> None:
    vector = VECTORS["device"]
    app_id = vector["app_id"].encode()
    fingerprint = hashlib.sha256(
        b"licensor-fingerprint/1\0" + app_id + b"\0" + vector["identity"].encode()
    )
    assert fingerprint.hexdigest() == vector["fingerprint"]
    for name, value in vector["values"].items():
        message = b"\0".join((b"licensor-component/1", app_id, name.encode(), value.encode()))
        assert hashlib.sha256(message).hexdigest() == vector["components"][name]


def test_the_license_proof_is_the_payload_signed_by_the_device_key() -> None:
    vector = VECTORS["license_proof"]
    device = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["device_private_seed_hex"]))
    raw = device.public_key().public_bytes_raw()
    assert raw.hex() == vector["device_public_key_hex"]
    assert b64url_decode(vector["device_key_b64url"]) == raw
    assert canonical(vector["payload"]).decode() == vector["payload_utf8"]

    prefix, payload, signature = vector["proof"].split(".")
    assert prefix == "LP1"
    assert b64url_decode(payload) == vector["payload_utf8"].encode()
    assert b64url_decode(signature).hex() == vector["signature_hex"]
    key = Ed25519PublicKey.from_public_bytes(raw)
    key.verify(b64url_decode(signature), b64url_decode(payload))  # no context line
    # Another payload (one byte changed) under the same signature does not verify.
    changed = vector["payload_utf8"].replace("LIC-PP2T", "LIC-PP2U").encode()
    with pytest.raises(InvalidSignature):
        key.verify(b64url_decode(signature), changed)
