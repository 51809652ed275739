"""Checking what the server signs (docs/signing.md): license files and answers.

The app pins the vendor's Ed25519 public keys; nothing it is told counts until a pinned
key verifies it. The canonical JSON here must give the server's bytes exactly.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from licensor_client.exceptions import (
    ClockTampered,
    LicenseFileExpired,
    LicenseNotActive,
    ReplayedAnswer,
    SignatureInvalid,
    VerificationError,
    WrongDevice,
)

LICENSE_FILE_FORMAT = "licensor-license/1"
LICENSE_CONTEXT = b"licensor-license/1\n"
RESPONSE_CONTEXT = b"licensor-response/1\n"

#: How far the device clock may be behind a file's ``issued_at`` before we call it
#: wound back (clocks drift; servers and laptops disagree by minutes, not days).
CLOCK_TOLERANCE = timedelta(minutes=10)

#: What every license file holds; a file without one of them is refused.
REQUIRED_FIELDS = (
    "license_key",
    "public_id",
    "fingerprint",
    "status",
    "plan",
    "devices_max",
    "issued_at",
    "valid_until",
    "expires_at",
)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, the form of every key, signature and sealed value."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Unpadded base64url, strictly: the decoder alone would ignore the last symbol's
    spare bits, so a signature with a changed character could still verify."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=") != text.encode():
        raise ValueError("not canonical unpadded base64url")
    return data


def format_time(moment: datetime) -> str:
    """A moment as the server writes it: ISO 8601 UTC with a ``Z``, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime:
    """An ISO 8601 UTC timestamp as signed (``2026-11-22T03:02:03Z``). What it reads has
    already passed its signature check, so a bad date is the signer's fault, not a forgery."""
    if not isinstance(text, str):
        raise VerificationError(f"a signed date is malformed: {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise VerificationError(f"a signed date is malformed: {text!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class PublicKeys:
    """The vendor's pinned public keys, by key id."""

    def __init__(self, keys: Mapping[str, str | bytes]) -> None:
        if not keys:
            raise ValueError("at least one public key must be pinned")
        self._keys: dict[str, Ed25519PublicKey] = {}
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not isinstance(key, str | bytes):
                raise ValueError("a public key is written id:base64url")
            try:
                raw = b64url_decode(key) if isinstance(key, str) else key
                self._keys[key_id] = Ed25519PublicKey.from_public_bytes(raw)
            except ValueError as error:  # binascii.Error is one too
                raise ValueError(f"public key {key_id!r} is not a base64url Ed25519 key") from (
                    error
                )

    @classmethod
    def parse(cls, text: str) -> PublicKeys:
        """``id:base64url[,id:base64url…]``, the form ``licensor keys show`` prints."""
        keys: dict[str, str] = {}
        for entry in text.replace("\n", ",").split(","):
            entry = entry.strip()
            if not entry:
                continue
            key_id, sep, key = entry.partition(":")
            if not sep or not key_id or not key:
                raise ValueError(f"a public key must be written id:base64url, not {entry!r}")
            keys[key_id.strip()] = key.strip()
        return cls(keys)

    @property
    def ids(self) -> list[str]:
        return list(self._keys)

    def as_text(self) -> str:
        return ",".join(f"{key_id}:{key}" for key_id, key in self.as_dict().items())

    def as_dict(self) -> dict[str, str]:
        """``{key id: base64url}``, the form of ``GET /api/v1/signing-keys``."""
        return {key_id: b64url_encode(key.public_bytes_raw()) for key_id, key in self._keys.items()}

    def verify(self, key_id: str, signature: str, message: bytes) -> None:
        key = self._keys.get(key_id)
        if key is None:
            raise SignatureInvalid(f"signed with key {key_id!r}, which this app does not pin")
        try:
            key.verify(b64url_decode(signature), message)
        except (InvalidSignature, binascii.Error, ValueError) as error:
            raise SignatureInvalid("the signature does not match: tampered with or forged") from (
                error
            )


@dataclass(frozen=True)
class LicenseFile:
    """A license file whose signature has been verified; ``raw`` is what to store."""

    raw: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = self.raw["payload"]
        return payload

    @property
    def license_key(self) -> str:
        return str(self.payload["license_key"])

    @property
    def public_id(self) -> str:
        return str(self.payload["public_id"])

    @property
    def fingerprint(self) -> str:
        return str(self.payload["fingerprint"])

    @property
    def status(self) -> str:
        return str(self.payload["status"])

    @property
    def plan(self) -> dict[str, Any]:
        plan: dict[str, Any] = self.payload["plan"]
        return plan

    @property
    def devices_max(self) -> int:
        return int(self.payload["devices_max"])

    @property
    def issued_at(self) -> datetime:
        return parse_time(self.payload["issued_at"])

    @property
    def valid_until(self) -> datetime:
        return parse_time(self.payload["valid_until"])

    @property
    def expires_at(self) -> datetime:
        return parse_time(self.payload["expires_at"])

    @property
    def starts_at(self) -> datetime | None:
        value = self.payload.get("starts_at")
        return parse_time(value) if value else None


def verify_license_file(keys: PublicKeys, document: Any) -> LicenseFile:
    """The file, once its format and signature hold; says nothing yet about time or device."""
    if not isinstance(document, dict) or document.get("format") != LICENSE_FILE_FORMAT:
        raise SignatureInvalid("not a Licensor license file")
    key_id, payload, signature = (
        document.get("key_id"),
        document.get("payload"),
        document.get("signature"),
    )
    if (
        not isinstance(key_id, str)
        or not isinstance(payload, dict)
        or not isinstance(signature, str)
    ):
        raise SignatureInvalid("the license file is incomplete")
    keys.verify(key_id, signature, LICENSE_CONTEXT + canonical_json(payload))
    for field in REQUIRED_FIELDS:
        if field not in payload:
            raise SignatureInvalid(f"the license file has no {field}")
    if not isinstance(payload["plan"], dict):
        raise VerificationError("the license file's plan is malformed")
    for field in ("issued_at", "valid_until", "expires_at"):
        parse_time(payload[field])
    if payload.get("starts_at") is not None:
        parse_time(payload["starts_at"])
    if not isinstance(payload["devices_max"], int):
        raise VerificationError("the license file's devices_max is malformed")
    return LicenseFile(document)


def check_license_file(
    keys: PublicKeys, document: Any, *, fingerprint: str, now: datetime
) -> LicenseFile:
    """Offline validation: the five rules of docs/signing.md, or the error that broke one."""
    return check_verified_file(
        verify_license_file(keys, document), fingerprint=fingerprint, now=now
    )


def check_verified_file(
    license_file: LicenseFile, *, fingerprint: str, now: datetime
) -> LicenseFile:
    """The rules after the signature (device, clock, status, age), on a verified file."""
    if license_file.fingerprint != fingerprint:
        raise WrongDevice("this license file belongs to another device")
    if now + CLOCK_TOLERANCE < license_file.issued_at:
        raise ClockTampered("the device clock is behind the time the license was issued")
    if license_file.status != "active":
        raise LicenseNotActive(
            f"the license file says the license is {license_file.status}",
            status=license_file.status,
        )
    if now >= license_file.valid_until:
        raise LicenseFileExpired("the license file is out of date; check the license online")
    return license_file


def verify_signed_answer(keys: PublicKeys, body: Any) -> dict[str, Any]:
    """A signed answer's fields without ``signature``, once the signature holds; the
    nonce is the caller's to check (a stored answer is re-checked offline without one)."""
    if not isinstance(body, dict):
        raise SignatureInvalid("the answer is not a JSON object")
    signature = body.get("signature")
    if not isinstance(signature, str) or "." not in signature:
        raise SignatureInvalid("the answer is not signed")
    key_id, _, value = signature.partition(".")
    unsigned = {name: item for name, item in body.items() if name != "signature"}
    keys.verify(key_id, value, RESPONSE_CONTEXT + canonical_json(unsigned))
    parse_time(unsigned.get("issued_at"))
    return unsigned


def verify_answer(keys: PublicKeys, body: Any, *, nonce: str) -> dict[str, Any]:
    """A signed validation answer, once its signature and our nonce both hold."""
    unsigned = verify_signed_answer(keys, body)
    if unsigned.get("nonce") != nonce:
        raise ReplayedAnswer("the answer was made for another request")
    return unsigned
