"""Floating licenses: a lease checked out, renewed by heartbeat and checked in.

A floating license counts the devices using it at once: the app holds a lease while it
runs, renews it before ``expires_at`` (every ``renew_after``), and checks it in on exit.
A lease not renewed in time frees itself on the server. Every answer is signed and
carries our nonce, and must be about the license this device holds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from licensor_client._signing import parse_time, verify_answer, verify_license_file
from licensor_client.exceptions import SignatureInvalid

if TYPE_CHECKING:
    from licensor_client._client import LicenseClient

_PATHS = {
    "checkout": "/api/v1/leases",
    "heartbeat": "/api/v1/leases/heartbeat",
    "release": "/api/v1/leases/release",
}


@dataclass(frozen=True)
class Lease:
    """A floating license's lease as the server last signed it."""

    public_id: str
    #: Whether this device holds a live lease now.
    held: bool
    #: When the lease lapses unless renewed (None: none held).
    expires_at: datetime | None
    checked_out_at: datetime | None
    leases_used: int
    leases_max: int
    lease_seconds: int

    @property
    def renew_after(self) -> timedelta:
        """How long to wait before the next heartbeat: a third of the lease, so that two
        missed beats (a sleeping laptop, a dropped connection) still keep it."""
        return timedelta(seconds=max(20, self.lease_seconds // 3))

    def as_dict(self) -> dict[str, Any]:
        return {
            "public_id": self.public_id,
            "held": self.held,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "checked_out_at": self.checked_out_at.isoformat() if self.checked_out_at else None,
            "leases_used": self.leases_used,
            "leases_max": self.leases_max,
            "lease_seconds": self.lease_seconds,
        }


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else parse_time(value)


def lease_call(client: LicenseClient, action: str) -> Lease:
    """Ask the server to ``checkout``, ``heartbeat`` or ``release`` this device's lease
    of the license kept here; the signed answer, verified."""
    state = client.store.load_activated()
    keys = client.keys
    license_file = verify_license_file(keys, state.license_file)
    nonce = secrets.token_urlsafe(16)
    answer = client.api.call(
        "POST",
        _PATHS[action],
        {
            "license_key": license_file.license_key,
            "fingerprint": client.fingerprint,
            "nonce": nonce,
        },
    )
    signed = verify_answer(keys, answer, nonce=nonce)
    if signed.get("public_id") != license_file.public_id:
        raise SignatureInvalid("the answer is about another license")
    try:
        return Lease(
            public_id=str(signed["public_id"]),
            held=signed["held"] is True,
            expires_at=_optional_time(signed.get("expires_at")),
            checked_out_at=_optional_time(signed.get("checked_out_at")),
            leases_used=int(signed["leases_used"]),
            leases_max=int(signed["leases_max"]),
            lease_seconds=int(signed["lease_seconds"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SignatureInvalid(f"the lease answer is not of the expected shape: {error}") from None
