"""Floating licenses (issue 16, item 2): leases held at once instead of devices.

A plan with ``lease_seconds`` is floating: its ``devices_max`` (or the license's own
limit) counts leases held at once. A device registers with the license as any seat does
(activation), without counting against the limit, and checks out a lease, which lasts
``lease_seconds`` unless renewed by heartbeat. A lease is live while it is neither
released nor past ``expires_at``: one that is not renewed in time frees itself by time,
no job needed. There is one row per license and device, taken again when it lapsed.

Every decision that counts leases is made under the license's row lock (the lock order
of activation: code, then license), so fifty devices checking out at once on a license
of five get exactly five leases (tests/licensing/test_leases.py, on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from licensor.errors import (
    CodeBlocked,
    LeaseLimitReached,
    LeaseNotHeld,
    LicenseExpired,
    LicenseNotFloating,
    LicenseNotOnDevice,
)
from licensor.licensing.licenses import license_status
from licensor.licensing.seats import devices_limit, iso_time, seat_device_name
from licensor.models import Device, Lease, License, LicenseStatus, Plan
from licensor.units import Service

# Who freed a lease (``leases.released_by``): the device checking in, the license's
# owner in My Account, or staff in the console or the CLI.
BY_DEVICE = "device"
BY_OWNER = "owner"
BY_STAFF = "staff"


@dataclass(frozen=True)
class LeaseState:
    """A device's lease as the API answers it, with the license's count."""

    public_id: str
    held: bool
    checked_out_at: datetime | None
    expires_at: datetime | None
    leases_used: int
    leases_max: int
    lease_seconds: int


@dataclass(frozen=True)
class LeaseHolder:
    """A live lease, for the pages and the CLI that show who holds each."""

    lease_id: int
    device_name: str
    platform: str
    fingerprint: str
    checked_out_at: datetime
    expires_at: datetime


def is_floating(license: License) -> bool:
    """Whether the license counts leases held at once rather than devices."""
    return license.plan.lease_seconds is not None


class Leases(Service):
    """Checkout, heartbeat and check-in of leases (``unit.leases``)."""

    # the device's side -------------------------------------------------------------------

    def checkout(self, key_text: str, fingerprint: str) -> LeaseState:
        """A lease for the device, which must hold a seat of the license: renewed if it
        is live, else taken if one is free (409 ``lease_limit_reached`` if none is)."""
        license = self.unit.licenses.find_license(key_text, lock=True)
        device = self._seated_device(license, fingerprint)
        return self.take(license, device)

    def heartbeat(self, key_text: str, fingerprint: str) -> LeaseState:
        """Renew the device's lease. One that lapsed is taken afresh, as a checkout would
        (refused when the others have taken every lease meanwhile); one that was checked
        in or freed by the owner or staff is not renewed (409 ``lease_not_held``)."""
        license = self.unit.licenses.find_license(key_text, lock=True)
        device = self._seated_device(license, fingerprint)
        lease = self._lease(license, device)
        if lease is None or lease.released_at is not None:
            raise LeaseNotHeld()
        return self.take(license, device)

    def checkin(self, key_text: str, fingerprint: str) -> LeaseState:
        """Give the device's lease back; giving back one not held changes nothing."""
        license = self.unit.licenses.find_license(key_text, lock=True)
        self._require_floating(license)
        lease = self.session.scalar(
            select(Lease)
            .join(Device, Device.id == Lease.device_id)
            .where(Lease.license_id == license.id, Device.fingerprint == fingerprint)
        )
        if lease is not None and self._live(lease):
            lease.released_at = self.now
            lease.released_by = BY_DEVICE
            self.session.flush()
        return self._state(license, None)

    def take(self, license: License, device: Device) -> LeaseState:
        """The device's lease on a license the caller holds locked: renewed while live,
        else taken if the license has one free."""
        seconds = self._require_floating(license)
        self._check_usable(license)
        lease = self._lease(license, device)
        until = self.now + timedelta(seconds=seconds)
        if lease is not None and self._live(lease):
            lease.renewed_at = self.now
            lease.expires_at = until
        else:
            live = self._live_leases(license.id)
            limit = devices_limit(license)
            if len(live) >= limit:
                raise self._limit_reached(live, limit)
            if lease is None:
                lease = Lease(license_id=license.id, device_id=device.id)
                self.session.add(lease)
            lease.checked_out_at = lease.renewed_at = self.now
            lease.expires_at = until
            lease.released_at = lease.released_by = None
        self.session.flush()
        return self._state(license, lease)

    # the owner's and staff's side -----------------------------------------------------------

    def holders(self, license: License) -> list[LeaseHolder]:
        """The license's live leases, the soonest to lapse first, each device named as
        the license's owner sees it."""
        rows = self.session.execute(
            select(Lease, Device)
            .join(Device, Device.id == Lease.device_id)
            .where(
                Lease.license_id == license.id,
                Lease.released_at.is_(None),
                Lease.expires_at > self.now,
            )
            .order_by(Lease.expires_at, Lease.id)
        ).all()
        return [
            LeaseHolder(
                lease_id=lease.id,
                device_name=seat_device_name(device, owner_account_id=device.account_id),
                platform=device.platform,
                fingerprint=device.fingerprint,
                checked_out_at=lease.checked_out_at,
                expires_at=lease.expires_at,
            )
            for lease, device in rows
        ]

    def force_release(self, license: License, lease_id: int, *, released_by: str) -> bool:
        """Free one live lease of a license the caller holds locked (``released_by``:
        ``owner`` or ``staff``); the device's next heartbeat is refused. Returns whether
        a live lease was freed; the caller audits it."""
        lease = self.session.scalar(
            select(Lease).where(Lease.id == lease_id, Lease.license_id == license.id)
        )
        if lease is None or not self._live(lease):
            return False
        lease.released_at = self.now
        lease.released_by = released_by
        self.session.flush()
        return True

    def seats_released(
        self, license: License, device_ids: Collection[int], *, released_by: str
    ) -> None:
        """Free the live leases of devices whose seats of the license were just released
        (by the device, its owner, staff, a refund): a device with no seat can neither
        renew nor use its lease, which would otherwise hold one of the limit until it
        lapsed."""
        # The plan by its id: callers that free seats have not always loaded it.
        if not device_ids or self.session.get_one(Plan, license.plan_id).lease_seconds is None:
            return
        self.session.execute(
            update(Lease)
            .where(
                Lease.license_id == license.id,
                Lease.device_id.in_(list(device_ids)),
                Lease.released_at.is_(None),
                Lease.expires_at > self.now,
            )
            .values(released_at=self.now, released_by=released_by[:20])
        )

    def held_until(self, license: License, fingerprint: str) -> datetime | None:
        """When the device's live lease of the license lapses; None if it holds none."""
        return self.session.scalar(
            select(Lease.expires_at)
            .join(Device, Device.id == Lease.device_id)
            .where(
                Lease.license_id == license.id,
                Device.fingerprint == fingerprint,
                Lease.released_at.is_(None),
                Lease.expires_at > self.now,
            )
        )

    def leases_used(self, license: License) -> int:
        """How many leases of the license are live now."""
        return len(self._live_leases(license.id))

    # inside ---------------------------------------------------------------------------

    def _require_floating(self, license: License) -> int:
        seconds = license.plan.lease_seconds
        if seconds is None:
            raise LicenseNotFloating()
        return seconds

    def _check_usable(self, license: License) -> None:
        status = license_status(license, self.now)
        if status == LicenseStatus.BLOCKED:
            raise CodeBlocked()
        if status == LicenseStatus.EXPIRED:
            raise LicenseExpired()

    def _seated_device(self, license: License, fingerprint: str) -> Device:
        """The device with this fingerprint, which must hold a live seat of the license:
        the license key alone is not enough to take a lease (it travels in screenshots)."""
        self._require_floating(license)
        seat = self.unit.licensing.device_seat(license, fingerprint)
        if seat is None:
            raise LicenseNotOnDevice(
                "activate the license on this device first; then check out a lease"
            )
        return seat.device

    def _lease(self, license: License, device: Device) -> Lease | None:
        return self.session.scalar(
            select(Lease).where(Lease.license_id == license.id, Lease.device_id == device.id)
        )

    def _live(self, lease: Lease) -> bool:
        return lease.released_at is None and lease.expires_at > self.now

    def _live_leases(self, license_id: int) -> list[datetime]:
        """When each live lease of the license lapses, the soonest first."""
        self.session.flush()
        return list(
            self.session.scalars(
                select(Lease.expires_at)
                .where(
                    Lease.license_id == license_id,
                    Lease.released_at.is_(None),
                    Lease.expires_at > self.now,
                )
                .order_by(Lease.expires_at)
            )
        )

    def _limit_reached(self, live: list[datetime], limit: int) -> LeaseLimitReached:
        soonest = live[0] if live else self.now
        retry_after = max(1, int((soonest - self.now).total_seconds()))
        return LeaseLimitReached(
            f"all {limit} seats of this floating license are in use; the soonest is free "
            f"at {iso_time(soonest)} unless renewed",
            retry_at=iso_time(soonest),
            retry_after=retry_after,
            leases_used=len(live),
            leases_max=limit,
        )

    def _state(self, license: License, lease: Lease | None) -> LeaseState:
        held = lease is not None and self._live(lease)
        return LeaseState(
            public_id=license.public_id,
            held=held,
            checked_out_at=lease.checked_out_at if held and lease else None,
            expires_at=lease.expires_at if held and lease else None,
            leases_used=self.leases_used(license),
            leases_max=devices_limit(license),
            lease_seconds=license.plan.lease_seconds or 0,
        )
