"""JSON shapes of the licensing API (Pydantic), kept apart from the tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from licensor.licensing.formats import CODE_PATTERN, LICENSE_KEY_PATTERN

# The shape of a typed code or key, said in the schema but checked by the service, so that
# one that fails it is the contract's `code_malformed` or `license_key_malformed` 422 (as
# is one whose check value fails), not a generic `validation_failed`.
CODE_SHAPE: JsonDict = {
    "pattern": CODE_PATTERN,
    "description": "20 symbols of Crockford's base 32 (case, spaces and hyphens aside); the "
    "last two are a check value: a code that fails it is 422 `code_malformed`.",
}
LICENSE_KEY_SHAPE: JsonDict = {
    "pattern": LICENSE_KEY_PATTERN,
    "description": "32 hexadecimal digits (case, spaces and hyphens aside); the last are a "
    "check value: a key that fails it is 422 `license_key_malformed`.",
}


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str = Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_\-:.]+$")
    name: str = Field(default="", max_length=200)
    platform: str = Field(default="", max_length=100)


class ActivationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activation_code: str = Field(
        max_length=64, examples=["6JPET-26GV0-A08J5-BT3ZX"], json_schema_extra=CODE_SHAPE
    )
    device: DeviceIn


class LicenseFile(BaseModel):
    format: str
    key_id: str
    payload: dict[str, Any]
    signature: str


class ActivationOut(BaseModel):
    license_key: str
    public_id: str
    plan: str
    plan_name: str
    status: str
    expires_at: datetime
    devices_used: int
    devices_max: int
    license_file: LicenseFile


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license_key: str = Field(max_length=64)
    fingerprint: str = Field(min_length=1, max_length=128)
    nonce: str | None = Field(
        default=None,
        max_length=128,
        description="Echoed inside the signed answer, so a replayed answer is detectable.",
    )


class ValidateOut(BaseModel):
    """Signed: ``signature`` is ``<key id>.<Ed25519 signature, base64url>`` over the
    canonical JSON of every other field (see docs/signing.md)."""

    valid: bool
    status: str = Field(description="active, released, not_activated, blocked, expired or unknown")
    public_id: str | None = None
    plan: str | None = None
    expires_at: datetime | None = None
    devices_used: int | None = None
    devices_max: int | None = None
    license_file: LicenseFile | None = None
    nonce: str | None = None
    issued_at: datetime
    signature: str


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license_key: str = Field(max_length=64, json_schema_extra=LICENSE_KEY_SHAPE)
    fingerprint: str = Field(min_length=1, max_length=128)


class ReleaseOut(BaseModel):
    status: str
    public_id: str
    devices_used: int
    devices_max: int


class SigningKeysOut(BaseModel):
    algorithm: str = "Ed25519"
    current: str
    keys: dict[str, str] = Field(description="key id -> raw public key, base64url")
