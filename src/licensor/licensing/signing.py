"""Signed license files and signed answers (Ed25519); the scheme is in docs/signing.md.

Both sign the canonical JSON of an object (sorted keys, no spaces, UTF-8) behind a
context line, so an answer can never be passed off as a license file or the reverse.
"""

from __future__ import annotations

import json
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


def signed_body(keyring: Keyring, body: dict[str, Any]) -> bytes:
    """The exact bytes of a signed JSON answer: ``signature`` covers every other field."""
    key_id, signature = keyring.sign(RESPONSE_CONTEXT + canonical_json(body))
    return canonical_json({**body, "signature": f"{key_id}.{b64url(signature)}"})
