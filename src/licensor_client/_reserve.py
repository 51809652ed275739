"""Reserve codes: a second code entered while the license is active waits in reserve and
extends the term when the current one ends (docs/reserve-codes.md).

The server extends the license at once and sends the license file again, signed: its
``expires_at`` is the extended end and ``reserve_starts_at`` when the reserve starts.
That file replaces the one kept here, after the same checks as an activation's; the
sealed code of the license (for backups) stays as it was.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from licensor_client._results import LicenseInfo
from licensor_client._signing import check_license_file, verify_license_file
from licensor_client.exceptions import SignatureInvalid

if TYPE_CHECKING:
    from licensor_client._client import LicenseClient

RESERVE_PATH = "/api/v1/licenses/reserve"
WITHDRAW_PATH = "/api/v1/licenses/reserve/withdraw"


def add_reserve(client: LicenseClient, activation_code: str) -> LicenseInfo:
    """Put ``activation_code`` in reserve for the license kept here; the license as the
    server now signs it (``reserve_starts_at`` set, ``expires_at`` extended)."""
    return _call(client, RESERVE_PATH, {"activation_code": activation_code})


def withdraw_reserve(client: LicenseClient) -> LicenseInfo:
    """Withdraw the reserve before it starts; the license with its term as it was."""
    return _call(client, WITHDRAW_PATH, {})


def _call(client: LicenseClient, path: str, extra: dict[str, Any]) -> LicenseInfo:
    state = client.store.load_activated()
    keys = client.keys
    held = verify_license_file(keys, state.license_file)
    answer = client.api.call(
        "POST",
        path,
        {"license_key": held.license_key, "fingerprint": client.fingerprint, **extra},
    )
    view = answer.get("license")
    if not isinstance(view, dict):
        raise SignatureInvalid("the answer carries no license file")
    now = client.now()
    license_file = check_license_file(
        keys, view.get("license_file"), fingerprint=client.fingerprint, now=now
    )
    if license_file.public_id != held.public_id:
        raise SignatureInvalid("the answer is about another license")
    devices_used = view.get("devices_used")
    kept = dataclasses.replace(
        state,
        license_file=license_file.raw,
        status=license_file.status,
        valid=True,
        checked_at=now,
        devices_used=devices_used if isinstance(devices_used, int) else state.devices_used,
        verdict=None,
    )
    client.store.save(kept)
    return LicenseInfo.of_state(kept, source="online")
