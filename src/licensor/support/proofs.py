"""License proofs sent with a support request: stored encrypted, checked at once.

The app exports a proof (``LP1.<payload>.<signature>``, docs/protocol.md): the license
key, public ID and fingerprint, signed by the device's own Ed25519 key, whose public half
the seat kept at activation. A screenshot can be edited; a proof cannot be made without
the device's private key. So the check needs no OCR and no job: the license found by its
key (check value first, then the blind index), the public ID matching it, a seat of that
license on that fingerprint whose key verifies the signature, still held: a device whose
seat was freed (a sold or stolen computer) proves nothing about who owns the code now.

Whatever the outcome, the customer is told the same (no oracle for guessed keys): the
desk alone sees ``verified`` or the short reason it is not (``verify_error``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from licensor.errors import LicenseKeyMalformed, LicenseUnknown
from licensor.keys import Keyring
from licensor.licensing.licenses import Licenses
from licensor.models import Activation, Device, License, LicenseProof

PROOF_PURPOSE = b"support_proofs.proof"
PROOF_PREFIX = "LP1"
# A proof is about 400 characters; anything much larger is not one.
MAX_PROOF_BYTES = 4096
PAYLOAD_FIELDS = frozenset({"fingerprint", "issued_at", "license_key", "public_id"})

# verify_error's values: stable, short, shown to agents in words (desk_pages.PROOF_ERRORS).
MALFORMED = "malformed"
KEY_MALFORMED = "license_key_malformed"
UNKNOWN_LICENSE = "unknown_license"
PUBLIC_ID_MISMATCH = "public_id_mismatch"
UNKNOWN_DEVICE = "unknown_device"
NO_DEVICE_KEY = "no_device_key"
BAD_SIGNATURE = "bad_signature"
SEAT_RELEASED = "seat_released"


class ProofMalformed(ValueError):
    """The text is not a license proof."""


@dataclass(frozen=True)
class ProofPayload:
    """What a proof says, as signed (``signed``: the exact bytes)."""

    fingerprint: str
    issued_at: str
    license_key: str
    public_id: str
    signed: bytes
    signature: bytes


def _b64url(text: str) -> bytes:
    """Strict unpadded base64url: one spelling per value, as the SDK writes it."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ProofMalformed() from error
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != text:
        raise ProofMalformed()
    return data


def parse_proof(text: str) -> ProofPayload:
    """The proof's parts, unverified; ``ProofMalformed`` for anything else."""
    parts = text.strip().split(".")
    if len(parts) != 3 or parts[0] != PROOF_PREFIX:
        raise ProofMalformed()
    signed, signature = _b64url(parts[1]), _b64url(parts[2])
    try:
        document: Any = json.loads(signed)
    except ValueError as error:
        raise ProofMalformed() from error
    if (
        not isinstance(document, dict)
        or set(document) != PAYLOAD_FIELDS
        # No NUL: PostgreSQL refuses one in a query, and the answer must not differ.
        or not all(isinstance(value, str) and "\x00" not in value for value in document.values())
        or len(signature) != 64
    ):
        raise ProofMalformed()
    return ProofPayload(**document, signed=signed, signature=signature)


@dataclass(frozen=True)
class ProofCheck:
    """A proof's verdict: ``error`` None when it holds; what it names, as far as found."""

    error: str | None
    payload: ProofPayload | None = None
    license: License | None = None
    device: Device | None = None
    device_key: bytes | None = None

    @property
    def verified(self) -> bool:
        return self.error is None


def check_proof(session: Session, licenses: Licenses, text: str) -> ProofCheck:
    """Check a proof against the seats the server keeps (see the module's docstring)."""
    try:
        payload = parse_proof(text)
    except ProofMalformed:
        return ProofCheck(MALFORMED)
    try:
        license = licenses.find_license(payload.license_key)
    except LicenseKeyMalformed:
        return ProofCheck(KEY_MALFORMED, payload)
    except LicenseUnknown:
        return ProofCheck(UNKNOWN_LICENSE, payload)
    if payload.public_id.strip().upper() != license.public_id:
        return ProofCheck(PUBLIC_ID_MISMATCH, payload, license)
    seats = session.execute(
        select(Activation.device_key, Activation.released_at, Device)
        .join(Device, Device.id == Activation.device_id)
        .where(Activation.license_id == license.id, Device.fingerprint == payload.fingerprint)
        .order_by(Activation.id.desc())
    ).all()
    if not seats:
        return ProofCheck(UNKNOWN_DEVICE, payload, license)
    device = seats[0][2]
    keyed = [seat for seat in seats if seat[0] is not None]
    if not keyed:
        return ProofCheck(NO_DEVICE_KEY, payload, license, device)
    # A device that took a new seat after losing its key has one key per seat: any may sign,
    # but only a seat still held counts (its key in a freed seat signs for a former device).
    freed: ProofCheck | None = None
    for key, released_at, seat_device in keyed:
        assert key is not None  # kept only keyed seats
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(payload.signature, payload.signed)
        except (InvalidSignature, ValueError):
            continue
        if released_at is None:
            return ProofCheck(None, payload, license, seat_device, key)
        freed = freed or ProofCheck(SEAT_RELEASED, payload, license, seat_device, key)
    return freed or ProofCheck(BAD_SIGNATURE, payload, license, device)


def store_proof(
    session: Session,
    keyring: Keyring,
    licenses: Licenses,
    now: datetime,
    *,
    request_id: int,
    text: str,
) -> tuple[LicenseProof, ProofCheck]:
    """Keep the proof with its request, encrypted (it holds a license key), and what its
    check found."""
    text = text.strip()
    checked = check_proof(session, licenses, text)
    proof = LicenseProof(
        request_id=request_id,
        proof_ciphertext=keyring.encrypt(text, purpose=PROOF_PURPOSE),
        sha256=hashlib.sha256(text.encode()).digest(),
        created_at=now,
        license_id=checked.license.id if checked.verified and checked.license else None,
        verified=checked.verified,
        verify_error=checked.error,
    )
    session.add(proof)
    session.flush()
    return proof, checked


def reveal_proof(keyring: Keyring, proof: LicenseProof) -> str:
    """The proof's text, decrypted, for the desk to check it again as it shows it."""
    return keyring.decrypt(proof.proof_ciphertext, purpose=PROOF_PURPOSE)


def proofs_of(session: Session, request_id: int) -> list[LicenseProof]:
    """The proofs sent with a request, in the order they came."""
    return list(
        session.scalars(
            select(LicenseProof)
            .where(LicenseProof.request_id == request_id)
            .order_by(LicenseProof.id)
        )
    )


@dataclass(frozen=True)
class ShownProof:
    """A proof as the desk shows it: the verdict kept when it came, and what it names."""

    proof: LicenseProof
    verified: bool
    error: str | None
    public_id: str | None  # the license it proved (verified), or the one its key found
    device_name: str | None
    device_key: str | None  # the start of the seat's key, base64url, to tell keys apart
    issued_at: str | None


def shown_proofs(
    session: Session, keyring: Keyring, licenses: Licenses, request_id: int
) -> list[ShownProof]:
    """The request's proofs, each checked again for the names it shows (the verdict is
    the one recorded when it came)."""
    shown = []
    for proof in proofs_of(session, request_id):
        checked = check_proof(session, licenses, reveal_proof(keyring, proof))
        key = checked.device_key
        shown.append(
            ShownProof(
                proof=proof,
                verified=proof.verified,
                error=proof.verify_error,
                public_id=checked.license.public_id if checked.license else None,
                device_name=(checked.device.name or None) if checked.device else None,
                device_key=base64.urlsafe_b64encode(key).decode()[:12] if key else None,
                issued_at=checked.payload.issued_at if checked.payload else None,
            )
        )
    return shown
