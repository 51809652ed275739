"""The licensing rules: codes, licenses, activation, seats, release, blocking (plans are
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
from sqlalchemy.orm import contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from licensor.clock import isoformat
from licensor.errors import (
    CodeBlocked,
    CodeMalformed,
    CodeNotSold,
    CodeUnknown,
    DeviceLimitReached,
    LicenseExpired,
    LicenseKeyMalformed,
    LicenseUnknown,
    ValidationFailed,
)
from licensor.licensing import formats
from licensor.licensing.signing import sign_license_file
from licensor.models import (
    Activation,
    ActivationCode,
    Batch,
    CodeOrigin,
    CodeState,
    Device,
    License,
    LicenseStatus,
    Plan,
)
from licensor.units import Service

CODE_PURPOSE = b"activation_code"
KEY_PURPOSE = b"license_key"

# Counting seats happens on every activation and view: built once, run as plain Core.
_seats = Activation.__table__.c
_SEATS_USED = select(func.count(_seats.id)).where(
    _seats.license_id == bindparam("license_id"), _seats.released_at.is_(None)
)

# What a code or a license is read with, since relationships never load behind one's back
# (lazy="raise"): its plan, and the other half of the pair with that one's plan. One query.
CODE_WITH_LICENSE = (
    joinedload(ActivationCode.plan, innerjoin=True),
    joinedload(ActivationCode.license).joinedload(License.plan, innerjoin=True),
)
LICENSE_WITH_CODE = (
    joinedload(License.plan, innerjoin=True),
    joinedload(License.activation_code).joinedload(ActivationCode.plan, innerjoin=True),
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


def base_status(blocked: bool, expires_at: datetime, now: datetime) -> LicenseStatus:
    """Blocked, expired or active, before looking at any device."""
    if blocked:
        return LicenseStatus.BLOCKED
    if expires_at <= now:
        return LicenseStatus.EXPIRED
    return LicenseStatus.ACTIVE


def license_status(license: License, now: datetime) -> LicenseStatus:
    return base_status(license.blocked_at is not None, license.expires_at, now)


def license_payload(
    *,
    license_key: str,
    public_id: str,
    plan_code: str,
    plan_name: str,
    entitlements: list[str],
    devices_max: int,
    fingerprint: str,
    status: str,
    starts_at: datetime | None,
    expires_at: datetime,
    now: datetime,
    offline_days: int,
) -> dict[str, Any]:
    """What a license file says (docs/signing.md); valid offline until ``valid_until``."""
    valid_until = min(now + timedelta(days=offline_days), expires_at)
    return {
        "license_key": license_key,
        "public_id": public_id,
        "plan": {"code": plan_code, "name": plan_name, "entitlements": entitlements},
        "devices_max": devices_max,
        "fingerprint": fingerprint,
        "status": status,
        "starts_at": isoformat(starts_at),
        "expires_at": isoformat(expires_at),
        "issued_at": isoformat(now),
        "valid_until": isoformat(valid_until),
    }


def code_state(code: ActivationCode, now: datetime) -> CodeState:
    """The state as the domain defines it: an active code whose term ended is expired.
    The code is read with its license (``CODE_WITH_LICENSE``)."""
    if code.state == CodeState.ACTIVE and code.license and code.license.expires_at <= now:
        return CodeState.EXPIRED
    return code.state


class Licensing(Service):
    """Licensing rules bound to one unit of work."""

    # codes ---------------------------------------------------------------------------

    def code_index(self, canonical: str) -> bytes:
        return self.keyring.blind_index(canonical, purpose=CODE_PURPOSE)

    def key_index(self, canonical: str) -> bytes:
        return self.keyring.blind_index(canonical, purpose=KEY_PURPOSE)

    def new_code_row(self, canonical: str, plan: Plan, origin: CodeOrigin) -> dict[str, Any]:
        """Column values of a new code; the caller inserts them (one by one or in bulk)."""
        return {
            "code_index": self.code_index(canonical),
            "code_ciphertext": self.keyring.encrypt(canonical, purpose=CODE_PURPOSE),
            "plan_id": plan.id,
            "origin": origin.value,
            "state": CodeState.ISSUED.value,
            "created_at": self.now,
        }

    def create_code(self, plan: Plan, origin: CodeOrigin) -> tuple[ActivationCode, str]:
        canonical = formats.generate_code()
        code = ActivationCode(**self.new_code_row(canonical, plan, origin))
        self.session.add(code)
        self.session.flush()
        return code, canonical

    def reveal_code(self, code: ActivationCode) -> str:
        return self.keyring.decrypt(code.code_ciphertext, purpose=CODE_PURPOSE)

    def reveal_license_key(self, license: License) -> str:
        return self.keyring.decrypt(license.key_ciphertext, purpose=KEY_PURPOSE)

    def find_code(self, text: str, *, lock: bool = False) -> ActivationCode:
        """The code typed (any spelling activation takes), with its plan and license;
        ``lock``: its row locked, as activation locks it."""
        try:
            canonical = formats.normalize_code(text)
        except formats.MalformedError as error:
            raise CodeMalformed(str(error)) from None
        code = self._code(ActivationCode.code_index == self.code_index(canonical), lock, False)
        if code is None:
            raise CodeUnknown()
        return code

    def get_code(self, code_id: int, *, lock: bool = False) -> ActivationCode:
        """The code with this id, with its plan and license, read afresh (``lock``: locked)."""
        code = self._code(ActivationCode.id == code_id, lock, True)
        if code is None:
            raise CodeUnknown()
        return code

    def _code(self, where: Any, lock: bool, afresh: bool) -> ActivationCode | None:
        query = select(ActivationCode).where(where).options(*CODE_WITH_LICENSE)
        if lock:  # the code's row only: a plan is never locked
            query = query.with_for_update(of=ActivationCode)
        return self.session.scalars(query.execution_options(populate_existing=afresh)).first()

    def find_license(self, text: str, *, lock: bool = False) -> License:
        """The license of this key, with its plan and code; ``lock``: its row locked."""
        try:
            canonical = formats.normalize_license_key(text)
        except formats.MalformedError as error:
            raise LicenseKeyMalformed(str(error)) from None
        license = self._license(License.key_index == self.key_index(canonical), lock, False)
        if license is None:
            raise LicenseUnknown()
        return license

    def get_license(self, license_id: int, *, lock: bool = False) -> License:
        """The license with this id, with its plan and code, read afresh (``lock``: locked)."""
        license = self._license(License.id == license_id, lock, True)
        if license is None:
            raise LicenseUnknown()
        return license

    def _license(self, where: Any, lock: bool, afresh: bool) -> License | None:
        query = select(License).where(where).options(*LICENSE_WITH_CODE)
        if lock:
            query = query.with_for_update(of=License)
        license = self.session.scalars(query.execution_options(populate_existing=afresh)).first()
        if license is not None and license.activation_code is not None:
            # The license holds the key to its code, so loading the code from the license
            # leaves the code's side unset; it is this license, known without a query.
            set_committed_value(license.activation_code, "license", license)
        return license

    def require_sale(self, code: ActivationCode) -> None:
        """``CodeNotSold`` for a code of a partner's allocation or of a till batch whose
        sale is not recorded yet (it has no order): until then a stolen card is worthless.
        Only a code that never activated is asked; a license that exists was allowed."""
        if code.batch_id is None or code.order_id is not None:
            return
        batch = self.session.get(Batch, code.batch_id)
        if batch is not None and batch.needs_sale:
            raise CodeNotSold()

    def block_code(self, text: str, *, reason: str, actor: str) -> ActivationCode:
        if not reason.strip():
            raise ValidationFailed("say why the code is blocked")
        return self.block(self.find_code(text, lock=True), reason=reason, actor=actor)

    def block(self, code: ActivationCode, *, reason: str, actor: str) -> ActivationCode:
        """Block a code the caller holds locked (``find_code(lock=True)``), and its license."""
        reason = reason.strip()
        if not reason:
            raise ValidationFailed("say why the code is blocked")
        code.state = CodeState.BLOCKED
        code.blocked_reason = reason
        code.blocked_at = self.now
        if code.license is not None:
            code.license.blocked_at = self.now
            code.license.blocked_reason = reason
        self.unit.audit(
            "licensing.code_blocked",
            actor=actor,
            subject_type="activation_code",
            subject_id=code.id,
            reason=reason,
        )
        self.session.flush()
        return code

    # activation ----------------------------------------------------------------------

    def activate(self, code_text: str, device_info: DeviceInfo) -> LicenseView:
        """Redeem a code on a device: first activation starts the term; the same device
        activating again reuses its seat; a new device takes a seat if one is free."""
        code = self.find_code(code_text, lock=True)
        if code.state == CodeState.BLOCKED:
            raise CodeBlocked()
        license = code.license
        if license is None:
            self.require_sale(code)
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

    def new_license(
        self, plan: Plan, *, expires_at: datetime, code: ActivationCode | None
    ) -> License:
        """A license with a fresh key and public ID: a code's at first activation, or a
        subscription's (no code) when it is bought."""
        canonical_key = formats.generate_license_key()
        license = License(
            public_id=self._new_public_id(),
            key_index=self.key_index(canonical_key),
            key_ciphertext=self.keyring.encrypt(canonical_key, purpose=KEY_PURPOSE),
            code_id=code.id if code else None,
            activation_code=code,
            plan_id=plan.id,
            plan=plan,
            starts_at=self.now,
            expires_at=expires_at,
            created_at=self.now,
        )
        self.session.add(license)
        self.session.flush()
        return license

    def _start_license(self, code: ActivationCode) -> License:
        license = self.new_license(
            code.plan, expires_at=self.now + timedelta(days=code.plan.term_days), code=code
        )
        code.state = CodeState.ACTIVE
        self.session.flush()
        return license

    def _new_public_id(self) -> str:
        while True:
            public_id = formats.generate_public_id()
            if (
                self.session.scalar(select(License.id).where(License.public_id == public_id))
                is None
            ):
                return public_id

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

    # validation and release ----------------------------------------------------------

    def release(self, key_text: str, fingerprint: str, *, released_by: str = "device") -> SeatCount:
        """Free the device's seat; releasing a seat that is already free changes nothing."""
        license = self.find_license(key_text, lock=True)
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
        status = status or license_status(license, self.now)
        return LicenseView(
            license_key=self.reveal_license_key(license),
            public_id=license.public_id,
            plan=license.plan.code,
            plan_name=license.plan.name,
            status=status,
            expires_at=license.expires_at,
            devices_used=self._seats_used(license),
            devices_max=license.plan.devices_max,
            license_file=self.license_file(license, fingerprint, status),
        )

    def license_file(self, license: License, fingerprint: str, status: str) -> dict[str, Any]:
        payload = license_payload(
            license_key=self.reveal_license_key(license),
            public_id=license.public_id,
            plan_code=license.plan.code,
            plan_name=license.plan.name,
            entitlements=list(license.plan.entitlements or []),
            devices_max=license.plan.devices_max,
            fingerprint=fingerprint,
            status=status,
            starts_at=license.starts_at,
            expires_at=license.expires_at,
            now=self.now,
            offline_days=self.settings.offline_days,
        )
        return sign_license_file(self.keyring, payload)
