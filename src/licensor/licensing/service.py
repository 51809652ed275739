"""Activation: a code redeemed on a device, seats taken and released, and what the device
is told (codes are licensing/codes.py's, licenses licensing/licenses.py's, plans
licensing/plans.py's).

Services take an open session and only ``flush()``; the caller's transaction commits.
Seat limits and single-use redemption are decided under row locks (code, then license),
the same order everywhere, so concurrent activations cannot exceed a license's seats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import contains_eager

from licensor.errors import CodeBlocked, CodeReserved, LicenseExpired
from licensor.licensing.licenses import license_status
from licensor.licensing.recognition import recognise_device
from licensor.licensing.seats import devices_limit, limit_reached
from licensor.licensing.transfers import check_transfer
from licensor.models import (
    Activation,
    ActivationCode,
    CodeState,
    Device,
    License,
    LicenseStatus,
    Plan,
)
from licensor.units import Service

# Counting seats happens on every activation and view: built once, run as plain Core.
_ACTIVATIONS = cast(Table, Activation.__table__)
_seats = _ACTIVATIONS.c
_SEATS_USED = select(func.count(_seats.id)).where(
    _seats.license_id == bindparam("license_id"), _seats.released_at.is_(None)
)


def _upsert_device(dialect: Any) -> Any:
    values = dialect.insert(Device)
    return values.on_conflict_do_update(
        index_elements=[Device.fingerprint],
        set_={
            "name": values.excluded.name,
            "platform": values.excluded.platform,
            "last_seen_at": values.excluded.last_seen_at,
            # An older SDK sends no parts: those kept from a newer one stay.
            "components": func.coalesce(values.excluded.components, Device.components),
        },
    ).returning(Device)


# A device registered, or its name, platform and last sighting brought up to date: built
# once per dialect (building it costs as much as running it).
_UPSERT_DEVICE = {"postgresql": _upsert_device(postgresql), "sqlite": _upsert_device(sqlite)}


@dataclass(frozen=True)
class DeviceInfo:
    fingerprint: str
    name: str
    platform: str
    # The device's Ed25519 public key (``DeviceIn.key``): kept on its seat, set once.
    key: bytes | None = None
    # The hashed parts the fingerprint is built from (``DeviceIn.components``).
    components: Mapping[str, str] | None = None


@dataclass(frozen=True)
class LicenseView:
    """A license as the device sees it, with a freshly signed license file."""

    license_key: str
    public_id: str
    plan: str
    plan_name: str
    status: LicenseStatus
    expires_at: datetime
    devices_used: int
    devices_max: int
    license_file: dict[str, Any]
    entitlements: list[str]
    # A floating license's lease on this device: held until then (None: not floating,
    # or no lease held).
    lease_expires_at: datetime | None = None
    # When the license's reserve code starts (``expires_at`` already counts its term).
    reserve_starts_at: datetime | None = None


@dataclass(frozen=True)
class SeatCount:
    public_id: str
    devices_used: int
    devices_max: int


class Licensing(Service):
    """Activation, seats and release bound to one unit of work (``unit.licensing``)."""

    # activation ----------------------------------------------------------------------

    def activate(self, code_text: str, device_info: DeviceInfo) -> LicenseView:
        """Redeem a code on a device: first activation starts the term; the same device
        activating again reuses its seat; a new device takes a seat if one is free."""
        code = self.unit.codes.find_code(code_text, lock=True)
        if code.state == CodeState.BLOCKED:
            raise CodeBlocked()
        if code.reserved_for_id is not None:
            raise CodeReserved()  # its term is another license's already (reserves.py)
        license = code.license
        if license is None:
            self.unit.codes.require_sale(code)
            return self._first_seat(self._start_license(code), device_info)
        # Lock order: code, then license (release locks only the license).
        self.session.refresh(license, with_for_update=True)
        return self.take_seat(license, device_info)

    def take_seat(self, license: License, device_info: DeviceInfo) -> LicenseView:
        """A seat for the device on a license locked by the caller (``get_license``): the
        same device keeps its seat; a new one takes a free seat, or is refused at the
        device limit."""
        self._check_usable(license)
        # A seat's device with one part changed takes this fingerprint before the upsert.
        recognise_device(self.unit, license, device_info.fingerprint, device_info.components)
        device = self._device(device_info)
        seat = self._active_seat(license, device)
        if seat is None and license.plan.lease_seconds is not None:
            # Floating: any device holding the code registers; what the plan limits is
            # the leases held at once (licensing/leases.py), one taken below.
            self._add_seat(license, device, device_info.key)
        elif seat is None:
            used = self._seats_used(license)
            if used >= devices_limit(license):
                # The refusal names the license's devices: the caller proved it holds
                # the code (or key, or token), and the owner must choose one to free.
                raise limit_reached(self.session, self.keyring, self.settings.url, license, used)
            check_transfer(self.session, license, device, self.now)
            self._add_seat(license, device, device_info.key)
        elif seat.device_key is None and device_info.key is not None:
            # A seat taken by an older app learns its key; a key once kept is never
            # replaced: whoever knows the fingerprint could otherwise put their own.
            seat.device_key = device_info.key
        if license.plan.lease_seconds is not None:
            self.unit.leases.take(license, device)
        return self.view(license, device.fingerprint)

    def _first_seat(self, license: License, device_info: DeviceInfo) -> LicenseView:
        """The first seat of a license this unit has just made: no other transaction can
        see the license yet, so it has no seat but this one, and nothing is counted."""
        self._check_usable(license)
        device = self._device(device_info)
        self._add_seat(license, device, device_info.key)
        if license.plan.lease_seconds is not None:
            self.unit.leases.take(license, device)  # a floating license's first lease
            return self.view(license, device.fingerprint)
        return self.view(license, device.fingerprint, devices_used=1)

    def _check_usable(self, license: License) -> None:
        status = license_status(license, self.now)
        if status == LicenseStatus.BLOCKED:
            raise CodeBlocked()
        if status == LicenseStatus.EXPIRED:
            raise LicenseExpired()

    def _add_seat(self, license: License, device: Device, device_key: bytes | None) -> None:
        # Plain Core: nothing reads the seat back in this unit, and the ORM's flush of
        # one new object costs more than the INSERT itself.
        self.session.connection().execute(
            _ACTIVATIONS.insert(),
            {
                "license_id": license.id,
                "device_id": device.id,
                "activated_at": self.now,
                "last_validated_at": self.now,
                "device_key": device_key,
            },
        )
        self.unit.webhooks.emit(
            "license.activated",
            {"public_id": license.public_id, "plan": license.plan.code, "device": device.name},
        )

    def _start_license(self, code: ActivationCode) -> License:
        license = self.unit.licenses.new_license(
            code.plan, expires_at=self.now + timedelta(days=code.plan.term_days), code=code
        )
        self.unit.codes.mark_active(code)
        return license

    def upsert_device(
        self, fingerprint: str, name: str, platform: str, components: Mapping[str, str] | None
    ) -> Device:
        """The device with this fingerprint, registered or brought up to date."""
        return self._device(DeviceInfo(fingerprint, name, platform, components=components))

    def _device(self, info: DeviceInfo) -> Device:
        """The device with this fingerprint, registered or brought up to date in one
        statement (an upsert): the same as a read, then an insert in a savepoint or an
        update, in a quarter of the round trips. Two requests registering the same machine
        at once meet on the fingerprint's unique index; the second updates the row."""
        device: Device = self.session.scalars(
            _UPSERT_DEVICE[self.session.get_bind().dialect.name],
            {
                "fingerprint": info.fingerprint,
                "name": info.name,
                "platform": info.platform,
                "created_at": self.now,
                "last_seen_at": self.now,
                "components": info.components and dict(info.components),
            },
            execution_options={"populate_existing": True},
        ).one()
        return device

    def _active_seat(self, license: License, device: Device) -> Activation | None:
        return self.session.scalar(
            select(Activation).where(
                Activation.license_id == license.id,
                Activation.device_id == device.id,
                Activation.released_at.is_(None),
            )
        )

    def device_seat(self, license: License, fingerprint: str) -> Activation | None:
        """The live seat of this license on the device with this fingerprint, with the
        device."""
        return self.session.scalar(
            select(Activation)
            .join(Activation.device)
            .options(contains_eager(Activation.device))
            .where(
                Activation.license_id == license.id,
                Device.fingerprint == fingerprint,
                Activation.released_at.is_(None),
            )
        )

    def _seats_used(self, license: License) -> int:
        self.session.flush()  # count the seats this unit of work has taken too
        connection = self.session.connection()
        used: int = connection.execute(_SEATS_USED, {"license_id": license.id}).scalar_one()
        return used

    # release -------------------------------------------------------------------------

    def release(
        self,
        key_text: str,
        fingerprint: str,
        components: Mapping[str, str] | None = None,
        *,
        released_by: str = "device",
    ) -> SeatCount:
        """Free the device's seat; releasing a seat that is already free changes nothing."""
        license = self.unit.licenses.find_license(key_text, lock=True)
        seat = self.device_seat(license, fingerprint)
        if seat is None and recognise_device(self.unit, license, fingerprint, components):
            seat = self.device_seat(license, fingerprint)
        if seat is not None:
            seat.released_at = self.now
            seat.released_by = released_by
            self._released(license, released_by)
            self.session.flush()
            self.unit.leases.seats_released(license, [seat.device_id], released_by=released_by)
        return SeatCount(license.public_id, self._seats_used(license), devices_limit(license))

    def release_seats(
        self, license: License, *, activation_id: int | None = None, released_by: str
    ) -> int:
        """Free the live seats of a license the caller holds locked: the one seat
        ``activation_id``, or every seat. Returns how many were freed."""
        query = select(Activation).where(
            Activation.license_id == license.id, Activation.released_at.is_(None)
        )
        if activation_id is not None:
            query = query.where(Activation.id == activation_id)
        seats = self.session.scalars(query.with_for_update()).all()
        for seat in seats:
            seat.released_at = self.now
            seat.released_by = released_by
            self._released(license, released_by)
        self.session.flush()
        self.unit.leases.seats_released(
            license, [seat.device_id for seat in seats], released_by=released_by
        )
        return len(seats)

    def _released(self, license: License, released_by: str) -> None:
        # The plan's code by its id: callers that free seats have not always loaded it.
        plan = self.session.get_one(Plan, license.plan_id).code
        data = {"public_id": license.public_id, "plan": plan, "by": released_by}
        self.unit.webhooks.emit("license.released", data)

    # views ---------------------------------------------------------------------------

    def view(
        self,
        license: License,
        fingerprint: str,
        status: LicenseStatus | None = None,
        *,
        devices_used: int | None = None,
    ) -> LicenseView:
        """The license as the device with ``fingerprint`` sees it, its file freshly signed;
        its seats counted unless the caller knows them (``devices_used``)."""
        status = status or license_status(license, self.now)
        # A license this unit has just made (its first seat counted) has no reserve yet.
        reserve_starts_at = None if devices_used == 1 else self.unit.reserves.starts_at(license)
        lease_expires_at = file_until = None
        if license.plan.lease_seconds is not None:
            # A floating license counts the leases held now (licensing/leases.py), and its
            # file holds offline only while the device's lease does.
            devices_used = self.unit.leases.leases_used(license)
            lease_expires_at = self.unit.leases.held_until(license, fingerprint)
            file_until = lease_expires_at or self.now
        return LicenseView(
            license_key=self.unit.licenses.reveal_license_key(license),
            public_id=license.public_id,
            plan=license.plan.code,
            plan_name=license.plan.name,
            status=status,
            expires_at=license.expires_at,
            devices_used=self._seats_used(license) if devices_used is None else devices_used,
            devices_max=devices_limit(license),
            license_file=self.unit.licenses.license_file(
                license,
                fingerprint,
                status,
                reserve_starts_at=reserve_starts_at,
                held_until=file_until,
            ),
            entitlements=sorted(license.plan.entitlements or []),
            reserve_starts_at=reserve_starts_at,
            lease_expires_at=lease_expires_at,
        )
