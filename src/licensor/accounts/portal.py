"""What My Account shows and does: the Licenses and Devices sections, and F10 connect."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from licensor.accounts.service import LinkedLicense
from licensor.audit import audit
from licensor.errors import LicenseKeyMalformed, LicenseUnknown, LicensorError
from licensor.licensing import formats
from licensor.licensing.service import Licensing, code_state
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    Device,
    DeviceAuthorization,
    License,
)
from licensor.units import Service

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no words, no look-alikes
CONNECT_MINUTES = 10
POLL_SECONDS = 5


@dataclass(frozen=True)
class LicenseRow:
    code: str
    plan: str
    status: str
    expires_at: datetime | None
    devices_used: int
    devices_max: int
    public_id: str | None


@dataclass(frozen=True)
class DeviceRow:
    id: int
    name: str
    platform: str
    last_seen_at: datetime
    licenses: list[str]


class AuthorizationPending(LicensorError):
    status = 400
    code = "authorization_pending"
    title = "Waiting for the code to be entered in My Account"


class DeviceCodeExpired(LicensorError):
    status = 410
    code = "device_code_expired"
    title = "This connection code has expired; start again"


class UserCodeUnknown(LicensorError):
    status = 404
    code = "user_code_unknown"
    title = "This code is not valid, or has expired"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def normalize_user_code(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch in USER_CODE_ALPHABET)


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class Portal(Service):
    @property
    def licensing(self) -> Licensing:
        return self.unit.licensing

    # Licenses ------------------------------------------------------------------------

    def licenses(self, account: Account) -> list[LicenseRow]:
        codes = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.account_id == account.id)
            .order_by(ActivationCode.linked_at.desc(), ActivationCode.id.desc())
        ).all()
        rows = []
        for code in codes:
            license = code.license
            used = self._seats(license) if license else 0
            rows.append(
                LicenseRow(
                    code=formats.format_code(self.licensing.reveal_code(code)),
                    plan=code.plan.name,
                    status=code_state(code, self.now),
                    expires_at=license.expires_at if license else None,
                    devices_used=used,
                    devices_max=code.plan.devices_max,
                    public_id=license.public_id if license else None,
                )
            )
        return rows

    def _seats(self, license: License) -> int:
        return (
            self.session.scalar(
                select(func.count(Activation.id)).where(
                    Activation.license_id == license.id, Activation.released_at.is_(None)
                )
            )
            or 0
        )

    # Devices -------------------------------------------------------------------------

    def _account_license_ids(self, account: Account) -> list[int]:
        return list(
            self.session.scalars(
                select(License.id)
                .join(ActivationCode, ActivationCode.id == License.code_id)
                .where(ActivationCode.account_id == account.id)
            )
        )

    def devices(self, account: Account) -> list[DeviceRow]:
        """Devices connected to the account, or holding a seat of one of its licenses."""
        license_ids = self._account_license_ids(account)
        seated = select(Activation.device_id).where(
            Activation.license_id.in_(license_ids), Activation.released_at.is_(None)
        )
        devices = self.session.scalars(
            select(Device)
            .where(or_(Device.account_id == account.id, Device.id.in_(seated)))
            .order_by(Device.last_seen_at.desc())
        ).all()
        rows = []
        for device in devices:
            seats = self.session.scalars(
                select(Activation).where(
                    Activation.device_id == device.id,
                    Activation.released_at.is_(None),
                    Activation.license_id.in_(license_ids),
                )
            ).all()
            names = [f"{seat.license.plan.name} ({seat.license.public_id})" for seat in seats]
            rows.append(
                DeviceRow(
                    device.id,
                    device.name or "—",
                    device.platform or "—",
                    device.last_seen_at,
                    names,
                )
            )
        return rows

    def remove_device(self, account: Account, device_id: int) -> int:
        """Release the device's seats of this account's licenses and disconnect it (F8)."""
        device = self.session.get(Device, device_id)
        license_ids = self._account_license_ids(account)
        if device is None:
            return 0
        seats = self.session.scalars(
            select(Activation)
            .where(
                Activation.device_id == device.id,
                Activation.released_at.is_(None),
                Activation.license_id.in_(license_ids),
            )
            .with_for_update()
        ).all()
        if not seats and device.account_id != account.id:
            return 0  # not this account's device: say nothing about it
        for seat in seats:
            seat.released_at = self.now
            seat.released_by = "account"
        if device.account_id == account.id:
            device.account_id = None
        audit(
            self.session,
            self.now,
            actor=f"account:{account.id}",
            action="accounts.device_removed",
            subject_type="device",
            subject_id=device.id,
            seats_released=len(seats),
        )
        return len(seats)

    # Connect a device (F10) --------------------------------------------------------------

    def authorize_device(
        self, fingerprint: str, name: str, platform: str, license_keys: list[str] | None = None
    ) -> tuple[str, str]:
        """(device_code, user_code): the app keeps the first, shows the second.

        ``license_keys`` are the app's proof of possession: each key that holds (check
        value, a known license, a live seat on this fingerprint) is recorded, and only
        those licenses may join the account on approval. Others are ignored without a
        word, so the answer is no oracle for keys."""
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
        self.session.add(
            DeviceAuthorization(
                device_code_hash=_digest(device_code),
                user_code=user_code,
                fingerprint=fingerprint,
                device_name=name,
                platform=platform,
                created_at=self.now,
                expires_at=self.now + timedelta(minutes=CONNECT_MINUTES),
                proven_license_ids=self._proven(fingerprint, license_keys or []),
            )
        )
        return device_code, user_code

    def _proven(self, fingerprint: str, license_keys: list[str]) -> list[int]:
        """Ids of the licenses whose key is given and that hold a live seat on the device."""
        proven: list[int] = []
        for text in license_keys:
            try:
                license = self.licensing.find_license(text)
            except (LicenseKeyMalformed, LicenseUnknown):
                continue
            if license.id not in proven and self.licensing.device_seat(license, fingerprint):
                proven.append(license.id)
        return proven

    def approve_device(self, account: Account, user_code_text: str) -> list[LinkedLicense]:
        """The signed-in customer typed the app's code: join the licenses the app proved
        it holds (their keys, each still seated on the device) to the account, as the
        app's "Recover my activation codes" would, and connect the device when one did.
        The fingerprint alone joins nothing: it is an identifier, not a secret."""
        user_code = normalize_user_code(user_code_text)
        grant = self.session.scalar(
            select(DeviceAuthorization)
            .where(
                DeviceAuthorization.user_code == user_code,
                DeviceAuthorization.approved_at.is_(None),
                DeviceAuthorization.expires_at > self.now,
            )
            .with_for_update()
        )
        if grant is None or len(user_code) != 8:
            raise UserCodeUnknown()
        grant.approved_at = self.now
        grant.account_id = account.id
        accounts = self.unit.accounts
        linked: list[LinkedLicense] = []
        for license_id in grant.proven_license_ids or []:
            license = self.session.get(License, license_id)
            if license is None or license.code_id is None:
                continue  # a subscription's license: no code to join
            # Locked as activation locks it (the code first), so two approvals cannot race.
            code = self.session.scalars(
                select(ActivationCode)
                .where(ActivationCode.id == license.code_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one()
            seat = self.licensing.device_seat(license, grant.fingerprint)
            if seat is None:
                continue  # released since the app asked
            if code.account_id not in (None, account.id):
                continue  # another account's: never moved, and not said here
            linked.append(
                accounts.attach_code(account, code, license, seat.device, via="device_code")
            )
        return linked

    def public_ids_on_device(self, grant: DeviceAuthorization, account: Account) -> list[str]:
        """The licenses this connection proved that are now the account's, still seated
        on the device: what the app is told joined."""
        proven = grant.proven_license_ids or []
        if not proven:
            return []
        return list(
            self.session.scalars(
                select(License.public_id)
                .join(ActivationCode, ActivationCode.id == License.code_id)
                .join(Activation, Activation.license_id == License.id)
                .join(Device, Device.id == Activation.device_id)
                .where(
                    License.id.in_(proven),
                    ActivationCode.account_id == account.id,
                    Device.fingerprint == grant.fingerprint,
                    Activation.released_at.is_(None),
                )
                .order_by(License.id)
            )
        )

    def poll_device(self, device_code: str) -> DeviceAuthorization:
        grant = self.session.scalar(
            select(DeviceAuthorization).where(
                DeviceAuthorization.device_code_hash == _digest(device_code)
            )
        )
        if grant is None or grant.consumed_at is not None:
            raise DeviceCodeExpired()
        if grant.approved_at is None:
            if grant.expires_at <= self.now:
                raise DeviceCodeExpired()
            raise AuthorizationPending()
        grant.consumed_at = self.now
        return grant
