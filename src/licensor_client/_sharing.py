"""Family sharing: the licenses someone shared with the customer's account, and a seat of
one for this device.

The customer's email and password are the proof (as for ``recover``); the owner keeps the
activation code, so none is kept here, and the owner's stopping the share frees this seat
(the next check says ``released``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from licensor_client._api import device
from licensor_client._signing import parse_time

if TYPE_CHECKING:
    from licensor_client._client import LicenseClient
    from licensor_client._results import LicenseInfo

LIST_PATH = "/api/v1/account/shared-licenses"


@dataclass(frozen=True)
class SharedLicense:
    """A license shared with the account, as the server lists it (never its code or key)."""

    public_id: str
    plan_name: str
    #: ``active``, ``expired`` or ``blocked``.
    status: str
    expires_at: datetime
    devices_used: int
    devices_max: int
    #: The owner's email address, masked.
    shared_by: str

    @classmethod
    def of_answer(cls, answer: dict[str, Any]) -> SharedLicense:
        return cls(
            public_id=str(answer["public_id"]),
            plan_name=str(answer["plan"]),
            status=str(answer["status"]),
            expires_at=parse_time(str(answer["expires_at"])),
            devices_used=int(answer["devices_used"]),
            devices_max=int(answer["devices_max"]),
            shared_by=str(answer["shared_by"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "public_id": self.public_id,
            "plan_name": self.plan_name,
            "status": self.status,
            "expires_at": self.expires_at.isoformat(),
            "devices_used": self.devices_used,
            "devices_max": self.devices_max,
            "shared_by": self.shared_by,
        }


def shared_licenses(client: LicenseClient, email: str, password: str) -> list[SharedLicense]:
    """The licenses shared with the account whose email and password these are."""
    answer = client.api.call("POST", LIST_PATH, {"email": email, "password": password})
    return [SharedLicense.of_answer(row) for row in answer.get("licenses", [])]


def activate_shared(
    client: LicenseClient, public_id: str, email: str, password: str
) -> LicenseInfo:
    """A seat of the shared license ``public_id`` for this device, kept as an activation
    is (its license file verified for this device), with no code to keep."""
    keys = client.keys
    answer = client.api.call(
        "POST",
        f"{LIST_PATH}/{quote(public_id.strip(), safe='')}/activate",
        {
            "email": email,
            "password": password,
            "device": device(
                client.fingerprint,
                client.device_name,
                client.machine.platform,
                client.device_public_key,
            ),
        },
    )
    return client._keep(keys, answer, None)
