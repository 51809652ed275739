"""Signed license files and signed answers (Ed25519); the scheme is in docs/signing.md.

Both sign the canonical JSON of an object (sorted keys, no spaces, UTF-8) behind a
context line, so an answer can never be passed off as a license file or the reverse.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from licensor.keys import Keyring, b64url

LICENSE_FILE_FORMAT = "licensor-license/1"
LICENSE_CONTEXT = b"licensor-license/1\n"
RESPONSE_CONTEXT = b"licensor-response/1\n"


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_license_file(keyring: Keyring, payload: dict[str, Any]) -> dict[str, Any]:
    key_id, signature = keyring.sign(LICENSE_CONTEXT + canonical_json(payload))
    return {
        "format": LICENSE_FILE_FORMAT,
        "key_id": key_id,
        "payload": payload,
        "signature": b64url(signature),
    }


def canonical_json_with(value: dict[str, Any], name: str, encoded: bytes) -> bytes:
    """``canonical_json({**value, name: x})`` where ``encoded`` is ``canonical_json(x)``.

    Lets a part that is signed and sent often (a cached license file) be encoded once.
    """
    head_parts: list[str] = []
    tail_parts: list[str] = []
    for key in sorted(value):
        item = value[key]
        # A validation answer's fields are strings, numbers, booleans and nulls: each is
        # written as json.dumps would, without its machinery (a third of the cost).
        if isinstance(item, str):
            text = encode_basestring(item)
        elif item is None:
            text = "null"
        elif item is True or item is False:
            text = "true" if item else "false"
        elif isinstance(item, int):
            text = int.__repr__(item)
        elif type(item) is list and all(type(entry) is str for entry in item):
            # Entitlements: names in a list, on every answer.
            text = "[" + ",".join(encode_basestring(entry) for entry in item) + "]"
        else:
            return _canonical_json_with_nested(value, name, encoded)
        (head_parts if key < name else tail_parts).append(encode_basestring(key) + ":" + text)
    field = encode_basestring(name).encode() + b":" + encoded
    head = ",".join(head_parts).encode()
    tail = ",".join(tail_parts).encode()
    return b"{" + b",".join(part for part in (head, field, tail) if part) + b"}"


def _canonical_json_with_nested(value: dict[str, Any], name: str, encoded: bytes) -> bytes:
    head = canonical_json({key: item for key, item in value.items() if key < name})
    tail = canonical_json({key: item for key, item in value.items() if key > name})
    field = json.dumps(name, ensure_ascii=False).encode() + b":" + encoded
    parts = [part for part in (head[1:-1], field, tail[1:-1]) if part]
    return b"{" + b",".join(parts) + b"}"


def signed_body(keyring: Keyring, body: dict[str, Any], *, encoded: bytes | None = None) -> bytes:
    """The bytes of a signed JSON answer: ``signature`` covers every other field.

    The other fields are sent in their canonical form with ``signature`` appended last,
    so the body is encoded once; a client re-encodes what it received without
    ``signature`` (key order does not matter to it) and gets the same signed bytes.
    ``encoded``, when given, is the canonical form of ``body`` already made.
    """
    encoded = encoded if encoded is not None else canonical_json(body)
    key_id, signature = keyring.sign(RESPONSE_CONTEXT + encoded)
    tail = (
        b'"signature":' + encode_basestring_ascii(f"{key_id}.{b64url(signature)}").encode() + b"}"
    )
    return encoded[:-1] + (b"," if len(encoded) > 2 else b"") + tail
