"""JSON shapes of the licensing API (Pydantic), kept apart from the tables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from licensor.keys import b64url_decode
from licensor.licensing.formats import CODE_PATTERN, LICENSE_KEY_PATTERN

# 32 bytes in base64url without padding: the last symbol carries 4 bits, so only 16 of the
# 64 are canonical (one spelling per key).
DEVICE_KEY_PATTERN = r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"

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


# The parts a fingerprint is built from, each hashed for the app (docs/protocol.md,
# "Device components"): a device with one part changed keeps its seat.
Components = Annotated[
    dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")],
        Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")],
    ]
    | None,
    Field(
        default=None,
        max_length=16,
        description="The hashed parts of the machine the fingerprint is built from, "
        "`{name: 64 hex digits}` (docs/protocol.md): a device of this license whose "
        "fingerprint changed but whose parts differ in at most one, of three or more, "
        "keeps its seat. Leave it out to be matched by the fingerprint alone.",
    ),
]


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str = Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_\-:.]+$")
    name: str = Field(default="", max_length=200)
    platform: str = Field(default="", max_length=100)
    components: Components
    key: str | None = Field(
        default=None,
        pattern=DEVICE_KEY_PATTERN,
        description="The device's own Ed25519 public key (32 bytes, base64url without "
        "padding), which verifies the license proof the app exports for support. A seat "
        "keeps the first key it is given: a later one does not replace it (docs/protocol.md).",
    )

    @property
    def key_bytes(self) -> bytes | None:
        return b64url_decode(self.key) if self.key is not None else None


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
    entitlements: list[str] = Field(
        description="The plan's features this license unlocks (sorted names); the license "
        "file carries them too."
    )
    lease_expires_at: datetime | None = Field(
        default=None,
        description="A floating license (its plan counts leases held at once): activation "
        "also checks out a lease for the device, held until then unless renewed by "
        "`POST /api/v1/leases/heartbeat`; `devices_used` then counts the leases held. Null "
        "for a license that counts devices.",
    )
    reserve_starts_at: datetime | None = Field(
        default=None,
        description="When the license's reserve code starts (`POST "
        "/api/v1/licenses/reserve`): `expires_at` already counts its term. Null: no reserve.",
    )


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license_key: str = Field(max_length=64)
    fingerprint: str = Field(min_length=1, max_length=128)
    components: Components
    nonce: str | None = Field(
        default=None,
        max_length=128,
        description="Echoed inside the signed answer, so a replayed answer is detectable.",
    )


class ValidateOut(BaseModel):
    """Signed: ``signature`` is ``<key id>.<Ed25519 signature, base64url>`` over the
    canonical JSON of every other field (see docs/signing.md)."""

    valid: bool
    status: str = Field(
        description="active, released, not_activated, blocked, expired, unknown, or "
        "lease_expired (a floating license whose device holds no live lease)"
    )
    reason: str | None = Field(
        default=None,
        description="Why an invalid answer is not valid, for a machine: `released`, "
        "`not_activated`, `blocked`, `expired`, `unknown` or `lease_expired` (the "
        "`status`); absent when valid. Refusals of an activation carry the same names as "
        "their problem `code` "
        "(`device_limit_reached`, `transfer_limit_reached`, ...).",
    )
    public_id: str | None = None
    plan: str | None = None
    expires_at: datetime | None = None
    devices_used: int | None = None
    devices_max: int | None = None
    license_file: LicenseFile | None = None
    entitlements: list[str] = Field(
        default_factory=list,
        description="The plan's features (sorted names); empty for an unknown license. "
        "Only a valid answer unlocks them.",
    )
    lease_expires_at: datetime | None = Field(
        default=None,
        description="Only in the answers about a floating license: when this device's "
        "lease lapses unless renewed (null: it holds none).",
    )
    reserve_starts_at: datetime | None = Field(
        default=None,
        description="Only in the answers about a license with a reserve code: when it "
        "starts (`expires_at` already counts its term).",
    )
    nonce: str | None = None
    issued_at: datetime
    signature: str


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license_key: str = Field(max_length=64, json_schema_extra=LICENSE_KEY_SHAPE)
    fingerprint: str = Field(min_length=1, max_length=128)
    components: Components


class ReleaseOut(BaseModel):
    status: str
    public_id: str
    devices_used: int
    devices_max: int


class SigningKeysOut(BaseModel):
    algorithm: str = "Ed25519"
    current: str
    keys: dict[str, str] = Field(description="key id -> raw public key, base64url")


class SeatOut(BaseModel):
    """A live seat of the license, in a ``device_limit_reached`` refusal."""

    seat: str = Field(description="An opaque reference to the seat, stable while it lives.")
    name: str = Field(description="The name its owner gave the device, else its app's.")
    platform: str
    activated_at: datetime
    last_seen_at: datetime


class DeviceLimitProblem(BaseModel):
    """problem+json: 409 ``device_limit_reached`` with its extension members (RFC 9457),
    so the app can lead the way to a free seat; 409 ``transfer_limit_reached`` with when the
    next transfer is allowed. Other 409s carry the base members only."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    devices_used: int | None = None
    devices_max: int | None = None
    devices: list[SeatOut] | None = Field(
        default=None,
        description="The license's live seats, the most recently seen first: the caller "
        "proved it holds the code, so it may see which devices hold the license (names "
        "only: never an email or an account).",
    )
    free_seat_url: str | None = Field(
        default=None, description="My Account's Devices page, where a signed-in owner frees a seat."
    )
    release_link_available: bool | None = Field(
        default=None,
        description="Whether the license has an owner of record (its account, or the address "
        "of the order that delivered it) to whom `release_link_url` can mail a one-time "
        "link that frees a seat without signing in.",
    )
    release_link_url: str | None = Field(
        default=None, description="Where to ask for that link (`POST`, the same code or key)."
    )
    retry_at: datetime | None = Field(
        default=None,
        description="`transfer_limit_reached`: when the next transfer to a new device is "
        "allowed (ISO 8601, UTC).",
    )
    retry_after: int | None = Field(
        default=None,
        description="`transfer_limit_reached`: seconds until `retry_at`, as `Retry-After` counts.",
    )
    transfer_limit: int | None = Field(
        default=None,
        description="`transfer_limit_reached`: the transfers allowed per period (the plan's, "
        "and any support granted).",
    )
    transfer_period_days: int | None = Field(
        default=None, description="`transfer_limit_reached`: the period, in days."
    )


class SeatReleaseLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activation_code: str | None = Field(default=None, max_length=64, json_schema_extra=CODE_SHAPE)
    license_key: str | None = Field(
        default=None, max_length=64, json_schema_extra=LICENSE_KEY_SHAPE
    )
    device: DeviceIn = Field(description="The device that met the device limit.")

    @model_validator(mode="after")
    def _one_proof(self) -> SeatReleaseLinkIn:
        if bool(self.activation_code) == bool(self.license_key):
            raise ValueError("give the activation_code or the license_key (one of them)")
        return self


class SeatReleaseLinkOut(BaseModel):
    status: str = Field(description="Always `accepted`.")
    detail: str
