"""An account's devices: the Devices section of My Account, naming a device, removing one
to free its seats (F8: how a license moves to another machine), and connecting a device
that one of the account's licenses has just proven (F4, F10)."""

from __future__ import annotations

import base64
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload

from licensor.errors import FormInvalid, NotFound
from licensor.keys import Keyring
from licensor.models import Account, Activation, ActivationCode, Device, License, Subscription
from licensor.units import Service
from licensor.webhooks import events

DEVICE_NAME_MAX = 60
TAG_PURPOSE = b"device tag"


def shown_name(device: Device) -> str:
    """What the account calls a device: the name its owner gave it, else the app's."""
    return device.display_name or device.name or "\u2014"


def device_tag(keyring: Keyring, fingerprint: str) -> str:
    """Four symbols that tell two same-named devices apart. A keyed hash of the
    fingerprint, not a piece of it: a fingerprint is matched by the API, so even part of
    one is not shown; the tag stays the same for the device across pages and visits."""
    digest = keyring.mac(fingerprint, purpose=TAG_PURPOSE)
    return base64.b32encode(digest[:5]).decode()[:4]


@dataclass(frozen=True)
class DeviceRow:
    id: int
    name: str  # as shown: the owner's name for it, else the app's
    reported_name: str  # as the app reports it
    renamed: bool
    platform: str
    tag: str  # device_tag: tells same-named devices apart
    first_activated_at: datetime  # the first seat of the account's licenses on it
    last_seen_at: datetime
    licenses: list[str]  # "Plan name (public ID)" of each of the account's seats on it
    # Connected to the account, or holding seats of its licenses only: the owner's to
    # name. A name given by an account is shown to that account only in this way.
    owned: bool
    label: str = ""  # the name, with the tag where another of the account's has the same


def clean_name(typed: str) -> str | None:
    """A device name as typed, tidied (spaces collapsed), or None to go back to the app's;
    FormInvalid beyond DEVICE_NAME_MAX characters or with control characters."""
    name = " ".join(typed.split())
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise FormInvalid({"name": "device_name_invalid"})
    if len(name) > DEVICE_NAME_MAX:
        raise FormInvalid({"name": "device_name_too_long"})
    return name or None


class AccountDevices(Service):
    """The devices of one account: connected to it, or holding a seat of its licenses."""

    def of_account(self, account: Account) -> list[DeviceRow]:
        """Devices connected to the account, or holding a seat of one of its licenses,
        most recently seen first."""
        seated = select(Activation.device_id).where(
            Activation.license_id.in_(self._license_ids(account)),
            Activation.released_at.is_(None),
        )
        devices = self.session.scalars(
            select(Device)
            .where(or_(Device.account_id == account.id, Device.id.in_(seated)))
            .order_by(Device.last_seen_at.desc(), Device.id.desc())
        ).all()
        device_ids = [device.id for device in devices]
        seats = self.session.scalars(
            self._seats(account, device_ids)
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
        # Another account's live seat on it: not this account's to name (a fingerprint is
        # no secret, so anyone can take a seat on any machine with a code of their own).
        shared = set(
            self.session.scalars(
                select(Activation.device_id).where(
                    Activation.device_id.in_(device_ids),
                    Activation.released_at.is_(None),
                    Activation.license_id.not_in(self._own_license_ids(account)),
                )
            )
        )
        # Released seats count too: a device first activated a year ago still was.
        first_seats: dict[int, datetime] = dict(
            self.session.execute(
                select(Activation.device_id, func.min(Activation.activated_at))
                .where(
                    Activation.device_id.in_(device_ids),
                    Activation.license_id.in_(self._license_ids(account)),
                )
                .group_by(Activation.device_id)
            ).all()
        )
        rows = []
        for device in devices:
            owned = device.account_id == account.id or (
                device.account_id is None and device.id not in shared
            )
            rows.append(self._row(device, owned, first_seats, names))
        repeated = Counter(row.name.casefold() for row in rows)
        return [
            replace(
                row,
                label=f"{row.name} \u00b7 {row.tag}"
                if repeated[row.name.casefold()] > 1
                else row.name,
            )
            for row in rows
        ]

    def one(self, account: Account, device_id: int) -> DeviceRow:
        """One of the account's devices as its list shows it; NotFound for any other id,
        whoever's it is (the ids are sequential, so nothing is told about others')."""
        found = next((row for row in self.of_account(account) if row.id == device_id), None)
        if found is None:
            raise NotFound()
        return found

    def rename(self, account: Account, device_id: int, typed: str) -> None:
        """Give one of the account's devices a name of the owner's (empty: the app's again);
        the name the app reports stays as it is. NotFound for another's device."""
        name = clean_name(typed)
        if not self.one(account, device_id).owned:
            raise NotFound()
        device = self.session.get_one(Device, device_id)
        if device.display_name == name:
            return
        device.display_name = name
        self.unit.audit(
            "accounts.device_renamed",
            actor=f"account:{account.id}",
            subject_type="device",
            subject_id=device.id,
            reset=name is None,
        )

    def remove(self, account: Account, device_id: int) -> int:
        """Release the device's seats of this account's licenses and disconnect it (F8);
        how many seats were freed. NotFound for a device that is not the account's."""
        device = self.session.get(Device, device_id)
        if device is None:
            raise NotFound()
        seats = self.session.scalars(self._seats(account, [device.id]).with_for_update()).all()
        if not seats and device.account_id != account.id:
            raise NotFound()  # not this account's device: say nothing about it
        for seat in seats:
            seat.released_at = self.now
            seat.released_by = "account"
            events.released(self.unit, seat.license_id, "account")
            license = self.session.get_one(License, seat.license_id)
            self.unit.leases.seats_released(license, [device.id], released_by="account")
        others_seated = self.session.scalar(
            select(Activation.id)
            .where(
                Activation.device_id == device.id,
                Activation.released_at.is_(None),
                Activation.id.not_in([seat.id for seat in seats]),
            )
            .limit(1)
        )
        if device.account_id == account.id or (device.account_id is None and not others_seated):
            device.display_name = None  # the name was this account's: it goes with it
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

    def _row(
        self,
        device: Device,
        owned: bool,
        first_seats: dict[int, datetime],
        names: dict[int, list[str]],
    ) -> DeviceRow:
        renamed = owned and bool(device.display_name)
        return DeviceRow(
            id=device.id,
            name=shown_name(device) if renamed else device.name or "\u2014",
            reported_name=device.name or "\u2014",
            renamed=renamed,
            platform=device.platform or "\u2014",
            tag=device_tag(self.keyring, device.fingerprint),
            first_activated_at=first_seats.get(device.id) or device.created_at,
            last_seen_at=device.last_seen_at,
            licenses=names[device.id],
            owned=owned,
        )

    def _own_license_ids(self, account: Account) -> Select[int]:
        """The ids of the account's licenses: its codes' and its subscriptions'."""
        subscribed = select(Subscription.license_id).where(
            Subscription.account_id == account.id, Subscription.license_id.is_not(None)
        )
        return self._license_ids(account).union(subscribed)  # type: ignore[return-value]

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
