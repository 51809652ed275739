"""JSON shapes of the floating licenses' API (licensing/lease_endpoints.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from licensor.licensing.schemas import LICENSE_KEY_SHAPE


class LeaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license_key: str = Field(max_length=64, json_schema_extra=LICENSE_KEY_SHAPE)
    fingerprint: str = Field(min_length=1, max_length=128)
    nonce: str | None = Field(
        default=None,
        max_length=128,
        description="Echoed inside the signed answer, so a replayed answer is detectable.",
    )


class LeaseOut(BaseModel):
    """Signed as the validate answer is: ``signature`` is ``<key id>.<Ed25519 signature,
    base64url>`` over the canonical JSON of every other field (docs/signing.md)."""

    public_id: str
    held: bool = Field(description="Whether this device holds a live lease now.")
    checked_out_at: datetime | None = Field(
        default=None, description="When the lease now held was taken (null: none held)."
    )
    expires_at: datetime | None = Field(
        default=None,
        description="When the lease lapses unless renewed by a heartbeat (null: none held).",
    )
    leases_used: int = Field(description="Leases of the license held now, this one included.")
    leases_max: int = Field(description="How many leases the license allows at once.")
    lease_seconds: int = Field(description="How long a lease lasts from its last renewal.")
    nonce: str | None = None
    issued_at: str = Field(description="When the server signed the answer (ISO 8601, UTC).")
    signature: str


class LeaseLimitProblem(BaseModel):
    """problem+json: 409 ``lease_limit_reached`` with when the soonest lease lapses."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    retry_at: datetime | None = Field(
        default=None, description="When the soonest lease lapses, unless its holder renews it."
    )
    retry_after: int | None = Field(default=None, description="The same, in seconds from now.")
    leases_used: int | None = None
    leases_max: int | None = None
