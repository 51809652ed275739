"""What ``LicenseClient``'s calls return: plain frozen values an app shows as they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from licensor_client._signing import format_time, parse_time
from licensor_client._state import DeviceState


def format_license_key(license_key: str) -> str:
    """The 32-digit key in groups of four, the way the License details window shows it."""
    return " ".join(license_key[index : index + 4] for index in range(0, len(license_key), 4))


@dataclass(frozen=True)
class LicenseInfo:
    """What the License window shows. ``source`` says how ``valid`` was decided:
    ``online`` (a signed answer just now), ``offline`` (the signed license file) or
    ``stored`` (details only, not checked)."""

    license_key: str
    public_id: str
    plan: str
    plan_name: str
    status: str
    valid: bool
    expires_at: datetime | None
    devices_used: int | None
    devices_max: int
    valid_until: datetime | None
    source: str
    checked_at: datetime | None = None
    entitlements: tuple[str, ...] = ()
    has_code: bool = False
    #: Why the license is not valid, for a machine (``released``, ``not_activated``,
    #: ``blocked``, ``expired``, ``unknown``): the signed verdict's; None when valid.
    reason: str | None = None
    #: When the license's reserve code starts (the license file says it, signed):
    #: ``expires_at`` already counts the reserve's term. None: no reserve code.
    reserve_starts_at: datetime | None = None

    @classmethod
    def of_state(cls, state: DeviceState, *, source: str) -> LicenseInfo:
        """The license ``state`` holds; its file must have been verified already. From
        ``offline``, the file (and any verdict kept) just passed every check: valid."""
        payload = state.payload
        plan = payload.get("plan") or {}
        if source == "offline":
            status, valid = "active", True
        else:
            status = str(state.status or payload.get("status"))
            valid = state.valid and status == "active"
        return cls(
            license_key=str(payload["license_key"]),
            public_id=str(payload["public_id"]),
            plan=str(plan.get("code", "")),
            plan_name=str(plan.get("name", "")),
            status=status,
            valid=valid,
            expires_at=parse_time(payload["expires_at"]) if payload.get("expires_at") else None,
            devices_used=state.devices_used,
            devices_max=int(payload.get("devices_max", 0)),
            valid_until=parse_time(payload["valid_until"]),
            source=source,
            checked_at=state.checked_at,
            # Top-level since issue 16; a file from an older server has them in its plan.
            entitlements=tuple(
                str(item) for item in payload.get("entitlements", plan.get("entitlements", []))
            ),
            has_code=state.code is not None,
            reason=None if valid else status,
            reserve_starts_at=(
                parse_time(payload["reserve_starts_at"])
                if payload.get("reserve_starts_at")
                else None
            ),
        )

    def has(self, entitlement: str) -> bool:
        """Whether the license unlocks the feature ``entitlement`` (``"vpn"``): its plan
        names it, in the signed answer or license file, and the license is valid."""
        return self.valid and entitlement.strip().lower() in self.entitlements

    @property
    def grouped_license_key(self) -> str:
        return format_license_key(self.license_key)

    def as_dict(self) -> dict[str, Any]:
        """The fields as JSON values (``licensor-client --json``), times in ISO 8601."""

        def when(value: datetime | None) -> str | None:
            return format_time(value) if value else None

        return {
            "license_key": self.license_key,
            "public_id": self.public_id,
            "plan": self.plan,
            "plan_name": self.plan_name,
            "status": self.status,
            "valid": self.valid,
            "expires_at": when(self.expires_at),
            "devices_used": self.devices_used,
            "devices_max": self.devices_max,
            "valid_until": when(self.valid_until),
            "source": self.source,
            "checked_at": when(self.checked_at),
            "entitlements": list(self.entitlements),
            "reason": self.reason,
            "reserve_starts_at": when(self.reserve_starts_at),
        }


@dataclass(frozen=True)
class LinkResult:
    """The license joined the account (``linked``) or was already in it."""

    status: str
    public_id: str
    plan: str
    licenses_url: str

    @classmethod
    def of_answer(cls, answer: dict[str, Any]) -> LinkResult:
        """From the server's answer to linking (``POST /api/v1/account/licenses``)."""
        return cls(
            status=str(answer["status"]),
            public_id=str(answer["public_id"]),
            plan=str(answer["plan"]),
            licenses_url=str(answer["licenses_url"]),
        )


@dataclass(frozen=True)
class ReleaseResult:
    """The seat was freed: the license is now on ``devices_used`` of ``devices_max``."""

    public_id: str
    devices_used: int
    devices_max: int

    @classmethod
    def of_answer(cls, answer: dict[str, Any]) -> ReleaseResult:
        """From the server's answer to a release (``POST /api/v1/activations/release``)."""
        return cls(
            public_id=str(answer["public_id"]),
            devices_used=int(answer["devices_used"]),
            devices_max=int(answer["devices_max"]),
        )


@dataclass(frozen=True)
class DeviceConnect:
    """The short code to show, and where the customer enters it (F10)."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int
    #: When the code stops working, on the client's clock (``connect_wait`` stops then).
    expires_at: datetime | None = None

    @classmethod
    def of_answer(cls, answer: dict[str, Any], now: datetime) -> DeviceConnect:
        """The server's answer to a device authorization, received at ``now``."""
        expires_in = int(answer["expires_in"])
        return cls(
            device_code=str(answer["device_code"]),
            user_code=str(answer["user_code"]),
            verification_uri=str(answer["verification_uri"]),
            verification_uri_complete=str(answer["verification_uri_complete"]),
            expires_in=expires_in,
            interval=int(answer["interval"]),
            expires_at=now + timedelta(seconds=expires_in),
        )


@dataclass(frozen=True)
class Connected:
    """The device joined the account. ``license`` is the account's subscription license,
    now active here and kept, when the account has one with a free seat."""

    account: str
    licenses_linked: tuple[str, ...]
    license: LicenseInfo | None = None
