"""Staff: the vendor's agents and admins, invited by mail, moved between the two roles and
removed by an admin (``/console/staff`` and ``licensor users invite|staff|set-role|
remove-staff`` call the same methods).

An invitation is an ``AccountToken`` of purpose ``staff_invite_<role>`` on the inviting
admin's account, naming the invited address in ``new_email`` (as ``add_email`` tokens do):
the address may have no account yet, and the mailed link is its proof. Only the token's
hash is kept; a link is good for ``INVITE_DAYS`` while its admin is still an admin.
Whoever accepts enrols two-factor before any staff page opens (web/pages.py refuses staff
without it; the invitation page sends them to enrol).

Nothing an invitation link answers tells whether its address has an account, unless the
link is live: only its recipient holds that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, cast, func, or_, select

from licensor.accounts.admin import CustomerAdmin
from licensor.accounts.service import email_problem, new_token, normalize_email, token_hash
from licensor.clock import mail_time
from licensor.errors import FormInvalid, NotFound
from licensor.models import Account, AccountToken, AuditEvent, Role, SignIn
from licensor.units import Service
from licensor.web.i18n import N_

INVITE_DAYS = 7
STAFF_ROLES = (Role.AGENT.value, Role.ADMIN.value)
_PURPOSE = "staff_invite_"  # + the role: AccountToken.purpose holds 20 characters
PURPOSES = tuple(_PURPOSE + role for role in STAFF_ROLES)

# What the staff forms' refusals say (FormInvalid keys), for the console and the CLI.
STAFF_PROBLEMS = {
    "role_invalid": N_("Choose agent or admin."),
    "already_staff": N_("This address already belongs to a member of staff."),
    "not_staff": N_("This account is not a member of staff."),
    "own_account": N_("You cannot change or remove your own staff role."),
    "last_admin": N_("This is the last admin: make another admin first."),
    "inviter_not_admin": N_("Only an admin can invite staff."),
    "no_inviter": N_("There is no admin to send the invitation in the name of."),
}


@dataclass(frozen=True)
class StaffMember:
    """A row of the staff list."""

    id: int
    email: str
    role: str  # admin or agent
    two_factor: bool
    last_sign_in: datetime | None
    invited_by: str | None
    invited_at: datetime | None


@dataclass(frozen=True)
class Invitation:
    """A pending invitation: not used, not revoked, not expired."""

    id: int
    email: str
    role: str
    invited_by: str
    invited_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class OpenInvitation:
    """A live invitation link as its page sees it."""

    record: AccountToken
    email: str
    role: str
    account: Account | None  # the address's account, if it has one


def _staff_filter() -> ColumnElement[bool]:
    # Roles are a JSON list; its text holds each role quoted. No index can serve this
    # (accounts.roles is JSON, migration 0011 gave it none): staff are read rarely.
    text = cast(Account.roles, String)
    return or_(*(text.like(f'%"{role}"%') for role in STAFF_ROLES))


def staff_role(account: Account) -> str | None:
    """``admin``, ``agent`` or None: admin wins where an account holds both."""
    return next((role for role in reversed(STAFF_ROLES) if account.has_role(role)), None)


class Staff(Service):
    """The staff rules bound to one unit of work."""

    # --- reading -------------------------------------------------------------------------

    def members(self) -> list[StaffMember]:
        """Every agent and admin, admins first, then by address."""
        accounts = list(self.session.scalars(select(Account).where(_staff_filter())))
        ids = [account.id for account in accounts]
        last_sign_in = dict(
            self.session.execute(
                select(SignIn.account_id, func.max(SignIn.occurred_at))
                .where(SignIn.account_id.in_(ids))
                .group_by(SignIn.account_id)
            ).all()
        )
        joined: dict[int, AuditEvent] = {}
        for event in self.session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.subject_type == "account",
                AuditEvent.subject_id.in_(ids),
                AuditEvent.action == "accounts.staff_joined",
            )
            .order_by(AuditEvent.id)
        ):
            joined[event.subject_id or 0] = event  # the latest wins
        members = []
        for account in accounts:
            joined_event = joined.get(account.id)
            members.append(
                StaffMember(
                    id=account.id,
                    email=account.email,
                    role=staff_role(account) or "",
                    two_factor=account.totp_secret_ciphertext is not None,
                    last_sign_in=last_sign_in.get(account.id),
                    invited_by=(joined_event.details or {}).get("invited_by")
                    if joined_event
                    else None,
                    invited_at=joined_event.occurred_at if joined_event else None,
                )
            )
        return sorted(members, key=lambda member: (member.role != Role.ADMIN, member.email))

    def invitations(self) -> list[Invitation]:
        """The pending invitations, newest first (read through the admins' accounts, whose
        tokens the index on account_id finds)."""
        admins = {account.id: account.email for account in self._admins()}
        rows = self.session.scalars(
            select(AccountToken)
            .where(
                AccountToken.account_id.in_(list(admins)),
                AccountToken.purpose.in_(PURPOSES),
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > self.now,
            )
            .order_by(AccountToken.id.desc())
        )
        return [
            Invitation(
                id=row.id,
                email=row.new_email or "",
                role=row.purpose.removeprefix(_PURPOSE),
                invited_by=admins[row.account_id],
                invited_at=row.created_at,
                expires_at=row.expires_at,
            )
            for row in rows
        ]

    def member(self, email: str) -> Account:
        """A member of staff by address (the CLI's argument); NotFound for anyone else."""
        account = self.unit.accounts.by_email(email)
        if account is None or staff_role(account) is None:
            raise NotFound(f"no member of staff has the address {email}")
        return account

    # --- inviting ------------------------------------------------------------------------

    def invite(
        self, email: str, role: str, *, inviter: Account | None, language: str = "en"
    ) -> Invitation:
        """Mail ``email`` a link to join as ``role``, in ``inviter``'s name (None: the
        earliest admin, for the CLI). An earlier pending invitation of the address ends.
        Audited as ``accounts.staff_invited``."""
        email = normalize_email(email)
        problems = {}
        if problem := email_problem(email):
            problems["email"] = problem
        if role not in STAFF_ROLES:
            problems["role"] = "role_invalid"
        if problems:
            raise FormInvalid(problems)
        if inviter is None:
            inviter = min(self._admins(), key=lambda admin: admin.id, default=None)
            if inviter is None:
                raise FormInvalid({"email": "no_inviter"})
        elif not inviter.has_role(Role.ADMIN):
            raise FormInvalid({"email": "inviter_not_admin"})
        existing = self.unit.accounts.by_email(email)
        if existing is not None and staff_role(existing) is not None:
            raise FormInvalid({"email": "already_staff"})
        for earlier in self._pending_for(email):
            earlier.used_at = self.now
        token, digest = new_token()
        record = AccountToken(
            token_hash=digest,
            account_id=inviter.id,
            purpose=_PURPOSE + role,
            new_email=email,
            created_at=self.now,
            expires_at=self.now + timedelta(days=INVITE_DAYS),
        )
        self.session.add(record)
        self.session.flush()
        self.send_mail(
            email,
            existing.language if existing is not None else language,
            "staff_invitation",
            inviter=inviter.email,
            inviter_role=staff_role(inviter),
            role=role,
            link=self.settings.url(f"/staff-invitation?token={token}"),
            days=INVITE_DAYS,
            expires=mail_time(record.expires_at),
        )
        self.unit.audit(
            "accounts.staff_invited",
            subject_type="staff_invitation",
            subject_id=record.id,
            email=email,
            role=role,
            invited_by=inviter.email,
        )
        return Invitation(record.id, email, role, inviter.email, self.now, record.expires_at)

    def revoke_invitation(self, invitation_id: int) -> None:
        """End a pending invitation: its link says it is no longer valid. Audited as
        ``accounts.staff_invite_revoked``."""
        record = self.session.get(AccountToken, invitation_id, with_for_update=True)
        if record is None or record.purpose not in PURPOSES or record.used_at is not None:
            raise NotFound()
        record.used_at = self.now
        self.unit.audit(
            "accounts.staff_invite_revoked",
            subject_type="staff_invitation",
            subject_id=record.id,
            email=record.new_email,
        )

    def revoke_invitations_to(self, email: str) -> int:
        """Revoke every invitation waiting for an address (the CLI's way); how many."""
        waiting = self._pending_for(normalize_email(email))
        for record in waiting:
            self.revoke_invitation(record.id)
        return len(waiting)

    # --- accepting -----------------------------------------------------------------------

    def open_invitation(self, token: str, *, lock: bool = False) -> OpenInvitation | None:
        """The live invitation of a link; None if unknown, used, revoked, expired, or its
        admin is an admin no more. ``lock``: its row locked, to be used (a second click
        of the form waits, then finds it used, rather than making the account twice)."""
        query = select(AccountToken).where(AccountToken.token_hash == token_hash(token))
        record = self.session.scalar(query.with_for_update() if lock else query)
        if record is None or record.purpose not in PURPOSES or record.used_at is not None:
            return None
        if record.expires_at <= self.now or record.new_email is None:
            return None
        inviter = self.session.get(Account, record.account_id)
        if inviter is None or not inviter.has_role(Role.ADMIN):
            return None
        return OpenInvitation(
            record,
            record.new_email,
            record.purpose.removeprefix(_PURPOSE),
            self.unit.accounts.by_email(record.new_email),
        )

    def join_new(self, token: str, password: str, *, language: str) -> Account | None:
        """Create the invited address's account with the password it chose and the role
        (the address is proven by the link). None when the link is not live or the
        address has an account by now (it then joins by signing in)."""
        invitation = self.open_invitation(token, lock=True)
        if invitation is None or invitation.account is not None:
            return None
        # The password rules of staff accounts (accounts.create: they have a second factor).
        account = self.unit.accounts.create(
            invitation.email, password, roles=[invitation.role], language=language, verified=True
        )
        self._joined(invitation, account)
        return account

    def join_existing(self, token: str, account: Account) -> Account | None:
        """Give the signed-in ``account`` the invitation's role, if the link is live and
        was sent to its address; else None."""
        invitation = self.open_invitation(token, lock=True)
        if invitation is None or invitation.account is None or invitation.account.id != account.id:
            return None
        account.roles = sorted(
            {r for r in account.roles or [] if r not in STAFF_ROLES} | {invitation.role}
        )
        self._joined(invitation, account)
        return account

    def _joined(self, invitation: OpenInvitation, account: Account) -> None:
        invitation.record.used_at = self.now
        inviter = self.session.get_one(Account, invitation.record.account_id)
        self.unit.audit(
            "accounts.staff_joined",
            actor=f"account:{account.id}",
            subject_type="account",
            subject_id=account.id,
            role=invitation.role,
            invited_by=inviter.email,
            invitation=invitation.record.id,
        )

    # --- changing and removing -----------------------------------------------------------

    def set_role(self, account_id: int, role: str, *, by: Account | None) -> Account:
        """Make a member of staff an agent or an admin. Nobody changes their own role, and
        the last admin stays one. Audited as ``accounts.staff_role_changed``."""
        if role not in STAFF_ROLES:
            raise FormInvalid({"role": "role_invalid"})
        account, before = self._changeable(account_id, by=by, demoting=role != Role.ADMIN)
        if before == role:
            return account
        account.roles = sorted({r for r in account.roles or [] if r not in STAFF_ROLES} | {role})
        self.unit.audit(
            "accounts.staff_role_changed",
            subject_type="account",
            subject_id=account.id,
            before=before,
            after=role,
        )
        return account

    def remove(self, account_id: int, *, by: Account | None) -> Account:
        """Take the staff roles away (the account stays, a customer) and end every session
        of it. Nobody removes themselves, nor the last admin. Audited as
        ``accounts.staff_removed``."""
        account, before = self._changeable(account_id, by=by, demoting=True)
        account.roles = [Role.CUSTOMER.value]
        ended = self.unit.service(CustomerAdmin).end_sessions(account)
        self.unit.audit(
            "accounts.staff_removed",
            subject_type="account",
            subject_id=account.id,
            role=before,
            sessions_ended=ended,
        )
        return account

    def _changeable(
        self, account_id: int, *, by: Account | None, demoting: bool
    ) -> tuple[Account, str]:
        # The admins' rows locked first: two admins demoting each other at once must not
        # leave the vendor with none (the second waits, then counts one admin).
        admins = self._admins(lock=True)
        account = self.session.get(Account, account_id, with_for_update=True)
        role = staff_role(account) if account is not None else None
        if account is None or role is None:
            raise FormInvalid({"account": "not_staff"})
        if by is not None and by.id == account.id:
            raise FormInvalid({"account": "own_account"})
        if demoting and role == Role.ADMIN and len(admins) <= 1:
            raise FormInvalid({"account": "last_admin"})
        return account, role

    def _admins(self, *, lock: bool = False) -> Sequence[Account]:
        query = select(Account).where(cast(Account.roles, String).like(f'%"{Role.ADMIN}"%'))
        if lock:
            query = query.order_by(Account.id).with_for_update()
        return self.session.scalars(query).all()

    def _pending_for(self, email: str) -> Sequence[AccountToken]:
        admin_ids = [admin.id for admin in self._admins()]
        return self.session.scalars(
            select(AccountToken).where(
                AccountToken.account_id.in_(admin_ids),
                AccountToken.purpose.in_(PURPOSES),
                AccountToken.new_email == email,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > self.now,
            )
        ).all()
