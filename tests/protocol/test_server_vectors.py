"""The server, given the vectors' key, signs the vectors' license file and answers byte
for byte: docs/protocol.md describes what the server does, not what it should."""

from __future__ import annotations

import json

from licensor.keys import Keyring, NamedKey
from licensor.licensing.signing import canonical_json, canonical_json_with, sign_license_file
from licensor.licensing.signing import signed_body as server_signed_body
from licensor.support.proofs import parse_proof
from tests.protocol.test_vectors import VECTORS


def vectors_keyring() -> Keyring:
    pair = VECTORS["key_pair"]
    seed = bytes.fromhex(pair["private_seed_hex"])
    return Keyring(
        [NamedKey("e1", bytes(32))], NamedKey("b1", bytes(32)), [NamedKey(pair["key_id"], seed)]
    )


def test_the_server_signs_the_vectors_license_file() -> None:
    document = VECTORS["license_file"]["file"]
    assert sign_license_file(vectors_keyring(), document["payload"]) == document


def test_the_server_sends_the_vectors_answers_byte_for_byte() -> None:
    keyring = vectors_keyring()
    for vector in VECTORS["answers"].values():
        body = vector["body"]
        sent = vector["as_sent"].encode()
        assert server_signed_body(keyring, body) == sent
        if "license_file" in body:  # the fast path's splice of the cached file, too
            rest = {name: value for name, value in body.items() if name != "license_file"}
            spliced = canonical_json_with(
                rest, "license_file", canonical_json(body["license_file"])
            )
            assert server_signed_body(keyring, body, encoded=spliced) == sent
        assert json.loads(sent) == vector["signed"]


def test_the_server_reads_the_vectors_license_proof() -> None:
    vector = VECTORS["license_proof"]
    read = parse_proof(vector["proof"])
    assert read.signed == vector["payload_utf8"].encode()
    assert (read.fingerprint, read.issued_at, read.license_key, read.public_id) == tuple(
        vector["payload"][name] for name in ("fingerprint", "issued_at", "license_key", "public_id")
    )
    assert read.signature.hex() == vector["signature_hex"]
