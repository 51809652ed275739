"""Family sharing from the invitee's side (rules of the share itself in
accounts/sharing.py): the licenses shared with an account, as its Licenses section and
the app list them (never the code or the key), and a seat of one for a device of the
account, marked as the share's so that ending the share frees it; and what the account's
data export says of its shares.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from licensor.accounts.service import mask_email
from licensor.accounts.sharing import lock_license
from licensor.errors import LicenseNotShared, NotFound
from licensor.licensing.licenses import license_status
from licensor.licensing.service import DeviceInfo, LicenseView
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    Device,
    License,
    LicenseShare,
    LicenseStatus,
    Plan,
)
from licensor.units import Service


@dataclass(frozen=True)
class SharedLicense:
    """A license shared with the account, as its Licenses section lists it: never the
    code or the key."""

    share_id: int
    public_id: str
    plan: str
    status: LicenseStatus
    expires_at: datetime
    devices_used: int
    devices_max: int
    shared_by: str  # the owner's address, masked
    since: datetime


class SharedLicenses(Service):
    """The licenses shared with an account, and their seats (``unit.shared_licenses``)."""

    def shared_with(self, account: Account) -> list[SharedLicense]:
        """The licenses shared with the account now, newest first."""
        rows = self.session.execute(
            select(LicenseShare, License, Account.email)
            .join(License, License.id == LicenseShare.license_id)
            .join(Account, Account.id == LicenseShare.owner_account_id)
            .where(LicenseShare.account_id == account.id, LicenseShare.revoked_at.is_(None))
            .order_by(LicenseShare.accepted_at.desc(), LicenseShare.id.desc())
        ).all()
        if not rows:
            return []
        license_ids = [license.id for _, license, _ in rows]
        used = dict(
            self.session.execute(
                select(Activation.license_id, func.count(Activation.id))
                .where(Activation.license_id.in_(license_ids), Activation.released_at.is_(None))
                .group_by(Activation.license_id)
            ).all()
        )
        plans = {
            plan.id: plan
            for plan in self.session.scalars(
                select(Plan).where(Plan.id.in_({license.plan_id for _, license, _ in rows}))
            )
        }
        shared = []
        for share, license, owner_email in rows:
            plan = plans[license.plan_id]
            status = license_status(license, self.now)
            limit = license.devices_max if license.devices_max is not None else plan.devices_max
            shared.append(
                SharedLicense(
                    share_id=share.id,
                    public_id=license.public_id,
                    plan=plan.name,
                    status=status,
                    expires_at=license.expires_at,
                    devices_used=used.get(license.id, 0),
                    devices_max=limit,
                    shared_by=mask_email(owner_email),
                    since=share.accepted_at or share.created_at,
                )
            )
        return shared

    def shared_one(self, account: Account, share_id: int) -> SharedLicense:
        """One license shared with the account, by its share's id, else NotFound."""
        found = next((row for row in self.shared_with(account) if row.share_id == share_id), None)
        if found is None:
            raise NotFound()
        return found

    def take_seat(self, account: Account, public_id: str, device: DeviceInfo) -> LicenseView:
        """A seat of the license shared with the account, for one of its devices (the app
        signed in as the invitee): it counts against the license's device limit like any
        other, and is marked as the share's, so revoking frees it. The device joins the
        invitee's account unless a live seat on it is someone else's."""
        share_id = self.session.scalar(
            select(LicenseShare.id)
            .join(License, License.id == LicenseShare.license_id)
            .where(
                License.public_id == public_id.strip().upper(),
                LicenseShare.account_id == account.id,
                LicenseShare.revoked_at.is_(None),
            )
        )
        if share_id is None:
            raise LicenseNotShared()
        license_id = self.session.get_one(LicenseShare, share_id).license_id
        license = lock_license(self.unit, license_id)
        share = self.session.get(LicenseShare, share_id, with_for_update=True)
        if share is None or share.revoked_at is not None or share.account_id != account.id:
            raise LicenseNotShared()  # revoked while the lock was awaited
        licensing = self.unit.licensing
        before = licensing.device_seat(license, device.fingerprint)
        if before is not None and before.share_id != share.id:
            # Another's seat on this fingerprint (a fingerprint is no secret): the share's
            # caller must not give it a key, which would then sign that device's proofs.
            device = replace(device, key=None)
        view = licensing.take_seat(license, device)
        seat = licensing.device_seat(license, device.fingerprint)
        assert seat is not None
        if before is None:
            seat.share_id = share.id
            self.unit.audit(
                "license.share_seat_taken",
                actor=f"account:{account.id}",
                subject_type="license",
                subject_id=license.id,
                public_id=license.public_id,
                share_id=share.id,
                device=seat.device.name,
            )
        self._connect(account, seat.device)
        return view

    # ----------------------------------------------------------------------------------

    def _connect(self, account: Account, device: Device) -> None:
        """Join the device to the invitee's account when every live seat on it is the
        account's own or taken through a share with it (a fingerprint is no secret)."""
        if device.account_id is not None:
            return
        foreign = self.session.scalar(
            select(func.count(Activation.id))
            .join(License, License.id == Activation.license_id)
            .outerjoin(ActivationCode, ActivationCode.id == License.code_id)
            .outerjoin(LicenseShare, LicenseShare.id == Activation.share_id)
            .where(
                Activation.device_id == device.id,
                Activation.released_at.is_(None),
                or_(ActivationCode.account_id.is_(None), ActivationCode.account_id != account.id),
                or_(LicenseShare.account_id.is_(None), LicenseShare.account_id != account.id),
            )
        )
        if not foreign:
            device.account_id = account.id

    def export_of(self, account: Account) -> dict[str, list[dict[str, Any]]]:
        """What the account's data export says of family sharing: the addresses it invited
        to its licenses, and the licenses shared with it (never their codes or keys)."""

        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        made = self.session.execute(
            select(LicenseShare, License.public_id)
            .join(License, License.id == LicenseShare.license_id)
            .where(LicenseShare.owner_account_id == account.id)
            .order_by(LicenseShare.id)
        ).all()
        joined = self.session.execute(
            select(LicenseShare, License.public_id)
            .join(License, License.id == LicenseShare.license_id)
            .where(LicenseShare.account_id == account.id)
            .order_by(LicenseShare.id)
        ).all()
        return {
            "invited": [
                {
                    "license": public_id,
                    "email": share.email,
                    "invited_at": when(share.created_at),
                    "accepted_at": when(share.accepted_at),
                    "ended_at": when(share.revoked_at),
                }
                for share, public_id in made
            ],
            "shared_with_me": [
                {
                    "license": public_id,
                    "accepted_at": when(share.accepted_at),
                    "ended_at": when(share.revoked_at),
                }
                for share, public_id in joined
            ],
        }
