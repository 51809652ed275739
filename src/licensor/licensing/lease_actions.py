"""Freeing a floating license's lease by hand: its owner in My Account, staff in the
console or with ``licensor licenses release-lease``. Both are audited; the device's next
heartbeat is then refused (``lease_not_held``), so it cannot quietly take the lease back.

The lease lapses by itself within ``lease_seconds`` anyway: forcing one free is for a
machine that crashed holding it, or a colleague who left for the day with the app open.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select

from licensor.clock import isoformat
from licensor.errors import FormInvalid, NotFound
from licensor.licensing.leases import BY_OWNER, BY_STAFF, LeaseHolder, is_floating
from licensor.models import Device, Lease, License
from licensor.units import Service


class LeaseActions(Service):
    """The owner's and staff's hand on leases (``unit.service(LeaseActions)``)."""

    def holders(self, license: License) -> list[LeaseHolder]:
        """Who holds each live lease of a floating license (none for another license)."""
        return self.unit.leases.holders(license) if is_floating(license) else []

    def free_by_owner(self, license: License, lease_id: int, *, account_id: int) -> bool:
        """The owner frees a lease of a license the caller found in the account and
        holds locked."""
        return self._free(license, lease_id, BY_OWNER, f"account:{account_id}", None)

    def free_by_staff(
        self,
        public_id: str,
        *,
        lease_id: int | None = None,
        fingerprint: str | None = None,
        reason: str,
        actor: str,
    ) -> bool:
        """Staff free the lease with this id, or the one the device with this fingerprint
        holds, with a reason."""
        reason = reason.strip()
        if not reason:
            raise FormInvalid({"reason": "required"})
        license = self.unit.licenses.by_public_id(public_id, lock=True)
        if fingerprint is not None:
            lease_id = self.session.scalar(
                select(Lease.id)
                .join(Device, Device.id == Lease.device_id)
                .where(Lease.license_id == license.id, Device.fingerprint == fingerprint.strip())
            )
        if lease_id is None:
            raise NotFound("no device with this fingerprint holds a lease of this license")
        return self._free(license, lease_id, BY_STAFF, actor, reason)

    def _free(
        self, license: License, lease_id: int, by: str, actor: str, reason: str | None
    ) -> bool:
        freed = self.unit.leases.force_release(license, lease_id, released_by=by)
        if freed:
            device = self.session.scalar(
                select(Device.name)
                .join(Lease, Lease.device_id == Device.id)
                .where(Lease.id == lease_id)
            )
            self.unit.audit(
                "licensing.lease_freed",
                actor=actor,
                subject_type="license",
                subject_id=license.id,
                reason=reason,
                public_id=license.public_id,
                device=device,
                by=by,
            )
        return freed


def lease_rows(holders: list[LeaseHolder]) -> list[dict[str, Any]]:
    """Leases as ``licensor licenses show --json`` prints them."""
    return [
        {
            **asdict(holder),
            "checked_out_at": isoformat(holder.checked_out_at),
            "expires_at": isoformat(holder.expires_at),
        }
        for holder in holders
    ]
