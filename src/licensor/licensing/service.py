"""Activation: a code redeemed on a device, seats taken and released, and what the device
is told (codes are licensing/codes.py's, licenses licensing/licenses.py's, plans
licensing/plans.py's).

Services take an open session and only ``flush()``; the caller's transaction commits.
Seat limits and single-use redemption are decided under row locks (code, then license),
the same order everywhere, so concurrent activations cannot exceed a license's seats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from licensor.errors import CodeBlocked, DeviceLimitReached, LicenseExpired
from licensor.licensing.licenses import license_status
from licensor.models import (
    Activation,
    ActivationCode,
    CodeState,
    Device,
    License,
    LicenseStatus,
)
from licensor.units import Service

# Counting seats happens on every activation and view: built once, run as plain Core.
_seats = Activation.__table__.c
_SEATS_USED = select(func.count(_seats.id)).where(
    _seats.license_id == bindparam("license_id"), _seats.released_at.is_(None)
)


@dataclass(frozen=True)
class DeviceInfo:
    fingerprint: str
    name: str
    platform: str


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
        license = code.license
        if license is None:
            self.unit.codes.require_sale(code)
            license = self._start_license(code)
        else:
            # Lock order: code, then license (release locks only the license).
            self.session.refresh(license, with_for_update=True)
        return self.take_seat(license, device_info)

    def take_seat(self, license: License, device_info: DeviceInfo) -> LicenseView:
        """A seat for the device on a license locked by the caller (``get_license``): the
        same device keeps its seat; a new one takes a free seat, or is refused at the
        device limit."""
        status = license_status(license, self.now)
        if status == LicenseStatus.BLOCKED:
            raise CodeBlocked()
        if status == LicenseStatus.EXPIRED:
            raise LicenseExpired()
        device = self._device(device_info)
        seat = self._active_seat(license, device)
        if seat is None:
            used = self._seats_used(license)
            if used >= license.plan.devices_max:
                raise DeviceLimitReached(
                    f"this license is active on {used} of {license.plan.devices_max} devices; "
                    "release one (in its app or in My Account) to move the license"
                )
            self.session.add(
                Activation(
                    license_id=license.id,
                    device_id=device.id,
                    activated_at=self.now,
                    last_validated_at=self.now,
                )
            )
            self.session.flush()
        return self.view(license, device.fingerprint)

    def _start_license(self, code: ActivationCode) -> License:
        license = self.unit.licenses.new_license(
            code.plan, expires_at=self.now + timedelta(days=code.plan.term_days), code=code
        )
        code.state = CodeState.ACTIVE
        self.session.flush()
        return license

    def _device(self, info: DeviceInfo) -> Device:
        device = self.session.scalar(select(Device).where(Device.fingerprint == info.fingerprint))
        if device is None:
            try:
                with self.session.begin_nested():
                    device = Device(
                        fingerprint=info.fingerprint,
                        name=info.name,
                        platform=info.platform,
                        created_at=self.now,
                        last_seen_at=self.now,
                    )
                    self.session.add(device)
            except IntegrityError:
                # Another request registered the same machine a moment ago.
                device = self.session.scalars(
                    select(Device).where(Device.fingerprint == info.fingerprint)
                ).one()
        device.name = info.name
        device.platform = info.platform
        device.last_seen_at = self.now
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

    def release(self, key_text: str, fingerprint: str, *, released_by: str = "device") -> SeatCount:
        """Free the device's seat; releasing a seat that is already free changes nothing."""
        license = self.unit.licenses.find_license(key_text, lock=True)
        seat = self.device_seat(license, fingerprint)
        if seat is not None:
            seat.released_at = self.now
            seat.released_by = released_by
            self.session.flush()
        return SeatCount(license.public_id, self._seats_used(license), license.plan.devices_max)

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
        self.session.flush()
        return len(seats)

    # views ---------------------------------------------------------------------------

    def view(
        self, license: License, fingerprint: str, status: LicenseStatus | None = None
    ) -> LicenseView:
        """The license as the device with ``fingerprint`` sees it, its file freshly signed."""
        status = status or license_status(license, self.now)
        return LicenseView(
            license_key=self.unit.licenses.reveal_license_key(license),
            public_id=license.public_id,
            plan=license.plan.code,
            plan_name=license.plan.name,
            status=status,
            expires_at=license.expires_at,
            devices_used=self._seats_used(license),
            devices_max=license.plan.devices_max,
            license_file=self.unit.licenses.license_file(license, fingerprint, status),
        )
