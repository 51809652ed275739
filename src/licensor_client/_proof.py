"""The device's own key pair and the license proof it signs for support.

Each device makes an Ed25519 key pair once, in its state directory (``device-key``); the
private half is sealed to the machine as the activation code is (``_sealing``) and never
leaves the device. The public half travels with every activation (``device.key``), and
the server keeps it on the seat. A license proof is then a short text the customer
sends to support instead of, or beside, a screenshot:

    LP1.<base64url(payload)>.<base64url(Ed25519 signature over the payload bytes)>

where the payload is compact JSON with sorted keys: ``fingerprint``, ``issued_at``,
``license_key``, ``public_id``. Support checks the signature with the key the seat of
that license on that fingerprint holds: an edited screenshot can lie, a proof cannot
without the device's private key. See docs/protocol.md.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from licensor_client._machine import Machine
from licensor_client._sealing import seal, unseal
from licensor_client._signing import b64url_decode, b64url_encode, canonical_json, format_time
from licensor_client._state import dump_json, write_atomically
from licensor_client.exceptions import BackupError

DEVICE_KEY_FILE = "device-key"
DEVICE_KEY_FORMAT = "licensor-device-key/1"
PROOF_PREFIX = "LP1"


def _context(public_key: bytes) -> bytes:
    """What the sealed private key is bound to: its own public key."""
    return b"licensor-device-key/1\0" + public_key


def public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _read(path: Path, machine: Machine) -> Ed25519PrivateKey | None:
    """The key kept at ``path``, or ``None`` when there is none or it cannot be opened
    here (damaged, or a state directory copied from another machine)."""
    try:
        document = json.loads(path.read_bytes())
        if not isinstance(document, dict) or document.get("format") != DEVICE_KEY_FORMAT:
            return None
        public_key = b64url_decode(str(document["public_key"]))
        secret = unseal(document["private_key"], machine.sealing_key, _context(public_key))
        private_key = Ed25519PrivateKey.from_private_bytes(b64url_decode(secret))
    except FileNotFoundError:
        return None
    except (BackupError, KeyError, TypeError, ValueError):
        return None
    return private_key if public_bytes(private_key) == public_key else None


def device_key(state_dir: Path, machine: Machine) -> Ed25519PrivateKey:
    """This device's key pair, made and kept on first use. A key that cannot be opened
    here is replaced by a new one: the seat keeps the key it was first given, so proofs
    of the new one verify only once the device takes a new seat (docs/protocol.md)."""
    path = state_dir / DEVICE_KEY_FILE
    private_key = _read(path, machine)
    if private_key is None:
        private_key = Ed25519PrivateKey.generate()
        public_key = public_bytes(private_key)
        raw = private_key.private_bytes_raw()
        document = {
            "format": DEVICE_KEY_FORMAT,
            "public_key": b64url_encode(public_key),
            "private_key": seal(b64url_encode(raw), machine.sealing_key, _context(public_key)),
        }
        write_atomically(path, dump_json(document))
    return private_key


def make_proof(
    private_key: Ed25519PrivateKey,
    *,
    license_key: str,
    public_id: str,
    fingerprint: str,
    issued_at: datetime,
) -> str:
    """The license proof: ``LP1.<payload>.<signature>``, small enough for a QR code."""
    payload = canonical_json(
        {
            "fingerprint": fingerprint,
            "issued_at": format_time(issued_at),
            "license_key": license_key,
            "public_id": public_id,
        }
    )
    signature = private_key.sign(payload)
    return f"{PROOF_PREFIX}.{b64url_encode(payload)}.{b64url_encode(signature)}"
