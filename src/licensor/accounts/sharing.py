"""Family sharing (issue 16, item 5): the owner of a license for several devices invites
people by email to use its seats; an invitee accepts in their own account and their
devices take seats of it; the owner revokes, which frees those seats at once.

The owner is the account holding the license's code (as the license's page in My Account
decides). The invitation is a one-time link mailed to the invited address, stored as a
keyed hash; accepting needs that link and an account that has confirmed the invited
address (its sign-in address or a further one), so neither a forwarded mail nor an
account made with someone else's address is enough. The invitee never sees the
activation code, nor the license key anywhere in their account: the owner keeps the code.
Everything is audited; the other side is told by mail.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select

from licensor.accounts.service import email_problem, mask_email, normalize_email
from licensor.clock import mail_time
from licensor.errors import FormInvalid, NotFound, ShareInvitationInvalid
from licensor.licensing.licenses import license_status
from licensor.licensing.seats import devices_limit
from licensor.models import (
    Account,
    AccountEmail,
    Activation,
    ActivationCode,
    License,
    LicenseShare,
    LicenseStatus,
)
from licensor.units import Service, UnitOfWork

INVITATION_DAYS = 7
INVITATION_PATH = "/share/"
RELEASED_BY_OWNER = "owner"
RELEASED_BY_INVITEE = "invitee"
_TOKEN_PURPOSE = b"license_share_invitation"


@dataclass(frozen=True)
class ShareRow:
    """A share as its owner sees it on the license's sharing page."""

    id: int
    email: str
    accepted: bool
    since: datetime  # invited at, or accepted at
    expires_at: datetime  # the invitation's, while pending


@dataclass(frozen=True)
class Invitation:
    """What the page behind an invitation link shows."""

    plan: str
    shared_by: str
    expires_at: datetime


def lock_license(unit: UnitOfWork, license_id: int) -> License:
    """The license locked as activation locks it: its code first, then the license (and a
    share's row only after both, as revoking takes them)."""
    code_id = unit.session.scalar(select(License.code_id).where(License.id == license_id))
    if code_id is not None:
        unit.codes.get_code(code_id, lock=True)
    return unit.licenses.get_license(license_id, lock=True)


class LicenseSharing(Service):
    """Invitations, acceptance, revocation and seats taken through a share
    (``unit.license_sharing``)."""

    # the owner ----------------------------------------------------------------------

    def owned_license(self, account: Account, public_id: str, *, lock: bool = False) -> License:
        """The license with this public ID whose code is in the account, else NotFound
        (the same for someone else's license as for none). Locked: the code first, then
        the license, as activation takes them."""
        found = self.session.execute(
            select(License.id, ActivationCode.id)
            .join(ActivationCode, ActivationCode.id == License.code_id)
            .where(License.public_id == public_id, ActivationCode.account_id == account.id)
        ).first()
        if found is None:
            raise NotFound()
        license_id, code_id = found
        if lock:
            self.unit.codes.get_code(code_id, lock=True)
        license = self.unit.licenses.get_license(license_id, lock=lock)
        if license.code_id != code_id:
            raise NotFound()  # its code was replaced meanwhile: look again
        return license

    def shares_of(self, license: License) -> list[ShareRow]:
        """The license's shares that stand: accepted, or invited and not expired."""
        shares = self.session.scalars(
            select(LicenseShare)
            .where(LicenseShare.license_id == license.id, self._standing())
            .order_by(LicenseShare.created_at, LicenseShare.id)
        ).all()
        return [
            ShareRow(
                id=share.id,
                email=share.email,
                accepted=share.accepted_at is not None,
                since=share.accepted_at or share.created_at,
                expires_at=share.expires_at,
            )
            for share in shares
        ]

    def can_share(self, license: License) -> bool:
        """Only a license for more than one device is shared: one seat stays the owner's."""
        return (
            devices_limit(license) > 1 and license_status(license, self.now) == LicenseStatus.ACTIVE
        )

    def invite(self, owner: Account, public_id: str, email_text: str) -> None:
        """Mail a one-time invitation to ``email_text`` for a seat of the owner's license.

        At most ``devices_max - 1`` shares stand at once (one seat stays the owner's),
        counted under the license's lock; an address already invited or sharing, or the
        owner's own, is refused by the field."""
        email = normalize_email(email_text)
        problem = email_problem(email)
        if problem is not None:
            raise FormInvalid({"email": problem})
        license = self.owned_license(owner, public_id, lock=True)
        if not self.can_share(license):
            raise FormInvalid({"email": "share_not_possible"})
        if email == owner.email:
            raise FormInvalid({"email": "share_own_address"})
        standing = self.shares_of(license)
        if any(share.email == email for share in standing):
            raise FormInvalid({"email": "share_already_invited"})
        if len(standing) >= devices_limit(license) - 1:
            raise FormInvalid({"email": "share_limit_reached"})
        token = secrets.token_urlsafe(32)
        share = LicenseShare(
            license_id=license.id,
            owner_account_id=owner.id,
            email=email,
            token_hash=self._digest(token),
            created_at=self.now,
            expires_at=self.now + timedelta(days=INVITATION_DAYS),
        )
        self.session.add(share)
        self.session.flush()
        plan = license.plan
        # The invitee's language is unknown: the owner's, who knows them.
        self.send_mail(
            email,
            owner.language,
            "share_invitation",
            plan=plan.name,
            owner=owner.email,
            days=INVITATION_DAYS,
            link=self.settings.url(INVITATION_PATH + token),
        )
        self.unit.audit(
            "license.shared",
            actor=f"account:{owner.id}",
            subject_type="license",
            subject_id=license.id,
            public_id=license.public_id,
            share_id=share.id,
            email=mask_email(email),
        )

    def revoke(self, owner: Account, public_id: str, share_id: int) -> None:
        """The owner ends a share: every seat taken through it is freed at once, the
        invitee (once they accepted) is mailed, and it is audited."""
        license = self.owned_license(owner, public_id, lock=True)
        share = self._share(share_id, license_id=license.id)
        self._end(license, share, by=f"account:{owner.id}", released_by=RELEASED_BY_OWNER)
        if share.account_id is not None:
            invitee = self.session.get_one(Account, share.account_id)
            self.send_mail(
                invitee.email,
                invitee.language,
                "share_revoked",
                plan=license.plan.name,
                owner=mask_email(owner.email),
                link=self.settings.url("/account/licenses"),
            )

    def share_for_revoke(self, owner: Account, public_id: str, share_id: int) -> ShareRow:
        """The standing share the owner is about to revoke, for the confirmation page."""
        license = self.owned_license(owner, public_id)
        row = next((row for row in self.shares_of(license) if row.id == share_id), None)
        if row is None:
            raise NotFound()
        return row

    def ever_shared(self, license_id: int) -> bool:
        """Whether someone other than the owner ever accepted a share of the license: their
        devices held its key, so a screenshot of it (or a proof their device signed) shows
        a seat, not the code's ownership (the desk's recovery asks)."""
        accepted = self.session.scalar(
            select(LicenseShare.id)
            .where(LicenseShare.license_id == license_id, LicenseShare.accepted_at.is_not(None))
            .limit(1)
        )
        return accepted is not None

    # erasure (accounts/privacy.py) ---------------------------------------------------

    def erase_for(self, account: Account, addresses: set[str], placeholder: str) -> int:
        """Erasure of an account: the shares it accepted, and invitations to its
        addresses, end (their seats freed, as leaving does) and no longer name the
        address. How many shares named it."""
        shares = self.session.scalars(
            select(LicenseShare).where(
                (LicenseShare.account_id == account.id) | LicenseShare.email.in_(addresses)
            )
        ).all()
        for found in shares:
            if found.revoked_at is None:
                license = lock_license(self.unit, found.license_id)
                share = self._share(found.id)
                self._end(license, share, by="erasure", released_by=RELEASED_BY_INVITEE)
            found.email = placeholder
        return len(shares)

    # the invitee ----------------------------------------------------------------------

    def invitation(self, token: str) -> Invitation | None:
        """The invitation behind a live link; None for one used, withdrawn, expired or
        unknown. Reading changes nothing (mail scanners open links)."""
        share = self._live(token, lock=False)
        if share is None:
            return None
        license = self.unit.licenses.get_license(share.license_id)
        owner = self.session.get_one(Account, share.owner_account_id)
        return Invitation(license.plan.name, mask_email(owner.email), share.expires_at)

    def accept(self, account: Account, token: str) -> str:
        """Accept an invitation into the account; the license's public ID. Refused as one
        (``ShareInvitationInvalid``) whatever the reason: a link used, withdrawn, expired or
        unknown, the owner's own account, or an account that has not confirmed the invited
        address. The link is spent; the owner is mailed."""
        # Locks as revoking takes them (code, license, then the share): found first unlocked.
        found = self._live(token, lock=False)
        if found is not None:
            license = lock_license(self.unit, found.license_id)
        share = self._live(token, lock=True) if found is not None else None
        if (
            share is None
            or share.owner_account_id == account.id
            or share.email not in self._verified_addresses(account)
        ):
            self.unit.audit(
                "license.share_accept_refused",
                actor=f"account:{account.id}",
                subject_type="license_share",
                subject_id=share.id if share is not None else None,
            )
            raise ShareInvitationInvalid()
        share.accepted_at = self.now
        share.account_id = account.id
        share.token_hash = None  # once
        self.unit.audit(
            "license.share_accepted",
            actor=f"account:{account.id}",
            subject_type="license",
            subject_id=license.id,
            public_id=license.public_id,
            share_id=share.id,
        )
        owner = self.session.get_one(Account, share.owner_account_id)
        self.send_mail(
            owner.email,
            owner.language,
            "share_accepted",
            plan=license.plan.name,
            public_id=license.public_id,
            invitee=share.email,
            when=mail_time(self.now),
            link=self.settings.url(f"/account/licenses/{license.public_id}/sharing"),
        )
        return license.public_id

    def leave(self, account: Account, share_id: int) -> None:
        """The invitee stops using a shared license: its seats on their devices are freed,
        the owner is mailed, and it is audited."""
        found = self.session.get(LicenseShare, share_id)
        if found is None or found.account_id != account.id:
            raise NotFound()
        license = lock_license(self.unit, found.license_id)
        share = self._share(share_id, account_id=account.id)
        self._end(license, share, by=f"account:{account.id}", released_by=RELEASED_BY_INVITEE)
        owner = self.session.get_one(Account, share.owner_account_id)
        self.send_mail(
            owner.email,
            owner.language,
            "share_left",
            plan=license.plan.name,
            public_id=license.public_id,
            invitee=share.email,
            link=self.settings.url(f"/account/licenses/{license.public_id}/sharing"),
        )

    def _end(self, license: License, share: LicenseShare, *, by: str, released_by: str) -> None:
        share.revoked_at = self.now
        share.revoked_by = by[:200]
        share.token_hash = None
        seats = self.session.scalars(
            select(Activation.id).where(
                Activation.share_id == share.id, Activation.released_at.is_(None)
            )
        ).all()
        for seat_id in seats:
            self.unit.licensing.release_seats(
                license, activation_id=seat_id, released_by=released_by
            )
        self.unit.audit(
            "license.share_revoked" if released_by == RELEASED_BY_OWNER else "license.share_left",
            actor=by,
            subject_type="license",
            subject_id=license.id,
            public_id=license.public_id,
            share_id=share.id,
            email=mask_email(share.email),
            seats_freed=len(seats),
        )

    def _standing(self) -> ColumnElement[bool]:
        return (LicenseShare.revoked_at.is_(None)) & (
            LicenseShare.accepted_at.is_not(None) | (LicenseShare.expires_at > self.now)
        )

    def _share(
        self, share_id: int, *, license_id: int | None = None, account_id: int | None = None
    ) -> LicenseShare:
        share = self.session.get(LicenseShare, share_id, with_for_update=True)
        if (
            share is None
            or share.revoked_at is not None
            or (license_id is not None and share.license_id != license_id)
            or (account_id is not None and share.account_id != account_id)
        ):
            raise NotFound()
        return share

    def _live(self, token: str, *, lock: bool) -> LicenseShare | None:
        query = select(LicenseShare).where(LicenseShare.token_hash == self._digest(token))
        share = self.session.scalar(query.with_for_update() if lock else query)
        if (
            share is None
            or share.revoked_at is not None
            or share.accepted_at is not None
            or share.expires_at <= self.now
        ):
            return None
        return share

    def _verified_addresses(self, account: Account) -> set[str]:
        addresses = set(
            self.session.scalars(
                select(AccountEmail.email).where(
                    AccountEmail.account_id == account.id, AccountEmail.verified_at.is_not(None)
                )
            )
        )
        if account.email_verified_at is not None:
            addresses.add(account.email)
        return addresses

    def _digest(self, token: str) -> bytes:
        """The token as stored: a keyed hash, so the table alone opens no link."""
        return self.keyring.mac(token, purpose=_TOKEN_PURPOSE)
