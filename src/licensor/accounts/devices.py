"""An account's devices: the Devices section of My Account, removing a device to free its
seats (F8: how a license moves to another machine), and connecting a device that one of
the account's licenses has just proven (F4, F10)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import joinedload

from licensor.models import Account, Activation, ActivationCode, Device, License, Subscription
from licensor.units import Service


@dataclass(frozen=True)
class DeviceRow:
    id: int
    name: str
    platform: str
    last_seen_at: datetime
    licenses: list[str]  # "Plan name (public ID)" of each of the account's seats on it


class AccountDevices(Service):
    """The devices of one account: connected to it, or holding a seat of its licenses."""

    def of_account(self, account: Account) -> list[DeviceRow]:
        """Devices connected to the account, or holding a seat of one of its licenses."""
        seated = select(Activation.device_id).where(
            Activation.license_id.in_(self._license_ids(account)),
            Activation.released_at.is_(None),
        )
        devices = self.session.scalars(
            select(Device)
            .where(or_(Device.account_id == account.id, Device.id.in_(seated)))
            .order_by(Device.last_seen_at.desc())
        ).all()
        seats = self.session.scalars(
            self._seats(account, [device.id for device in devices])
            .options(
                joinedload(Activation.license, innerjoin=True).joinedload(
                    License.plan, innerjoin=True
                )
            )
            .order_by(Activation.id)
        ).all()
        names: dict[int, list[str]] = defaultdict(list)
        for seat in seats:
            names[seat.device_id].append(f"{seat.license.plan.name} ({seat.license.public_id})")
        return [
            DeviceRow(
                device.id,
                device.name or "—",
                device.platform or "—",
                device.last_seen_at,
                names[device.id],
            )
            for device in devices
        ]

    def remove(self, account: Account, device_id: int) -> int:
        """Release the device's seats of this account's licenses and disconnect it (F8);
        how many seats were freed."""
        device = self.session.get(Device, device_id)
        if device is None:
            return 0
        seats = self.session.scalars(self._seats(account, [device.id]).with_for_update()).all()
        if not seats and device.account_id != account.id:
            return 0  # not this account's device: say nothing about it
        for seat in seats:
            seat.released_at = self.now
            seat.released_by = "account"
        if device.account_id == account.id:
            device.account_id = None
        self.unit.audit(
            "accounts.device_removed",
            actor=f"account:{account.id}",
            subject_type="device",
            subject_id=device.id,
            seats_released=len(seats),
        )
        return len(seats)

    def connect(self, account: Account, device: Device) -> None:
        """Connect a device that a license of the account has just proven (F4, F10), unless
        it is connected already or a live seat on it is someone else's: a fingerprint is
        no secret, so a seat of one's own license on another person's machine must not
        put that machine in one's account."""
        if device.account_id is not None:
            return
        owners = self.session.execute(
            select(ActivationCode.account_id, Subscription.account_id)
            .select_from(Activation)
            .join(License, License.id == Activation.license_id)
            .outerjoin(ActivationCode, ActivationCode.id == License.code_id)
            .outerjoin(Subscription, Subscription.license_id == License.id)
            .where(Activation.device_id == device.id, Activation.released_at.is_(None))
        ).all()
        if all(account.id in (code_owner, subscriber) for code_owner, subscriber in owners):
            device.account_id = account.id

    def _license_ids(self, account: Account) -> Select[int]:
        """The ids of the licenses of the account's codes."""
        return (
            select(License.id)
            .join(ActivationCode, ActivationCode.id == License.code_id)
            .where(ActivationCode.account_id == account.id)
        )

    def _seats(self, account: Account, device_ids: list[int]) -> Select[Activation]:
        """The live seats of the account's licenses on these devices."""
        return select(Activation).where(
            Activation.device_id.in_(device_ids),
            Activation.released_at.is_(None),
            Activation.license_id.in_(self._license_ids(account)),
        )
