"""What staff do to a customer's account (the console and ``licensor users``): send the
verification mail again, disable the account and enable it again.

A disabled account keeps its licenses working (its devices are not punished for what
the account did) but cannot sign in: ``Authentication.authenticate`` answers it as a wrong
password, so neither the sign-in form nor the app's account link tells a disabled account
from a wrong guess, and every session it had ends at once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from licensor.errors import FormInvalid
from licensor.logging import log
from licensor.models import Account, AccountToken, Role, WebSession
from licensor.units import Service
from licensor.web.i18n import N_

# Staff send a verification mail this often at most (a customer on the phone clicking
# again is no reason to flood the inbox): counted from the links in the database, so every
# host sees the same.
RESEND_INTERVAL = timedelta(minutes=10)
REASON_MAX = 500

# What this module's and privacy.py's field problems say (pages translate them; the
# CLI prints them as they are).
CUSTOMER_MESSAGES = {
    "required": N_("Give a reason: it goes in the audit log."),
    "reason_too_long": N_("Use at most 500 characters."),
    "cannot_disable_yourself": N_("You cannot disable your own account."),
    "cannot_disable_staff": N_(
        "Staff accounts cannot be disabled here: remove the staff role first (Staff)."
    ),
    "account_erased": N_("This account has been erased."),
    "account_not_usable": N_("This account is disabled or erased: no mail is sent to it."),
    "already_verified": N_("This email address is verified already."),
    "verification_recent": N_(
        "A verification link was sent less than 10 minutes ago; wait before sending another."
    ),
    "cannot_erase_staff": N_(
        "Staff accounts cannot be erased here (and nobody can erase their own): remove the "
        "staff role first."
    ),
    "email_mismatch": N_("Type the account's email address exactly as shown above."),
}


def clean_reason(reason: str) -> str:
    """A reason as typed, tidied; FormInvalid when blank or too long."""
    reason = " ".join(reason.split())
    if not reason:
        raise FormInvalid({"reason": "required"})
    if len(reason) > REASON_MAX:
        raise FormInvalid({"reason": "reason_too_long"})
    return reason


def is_staff(account: Account) -> bool:
    return account.has_role(Role.AGENT) or account.has_role(Role.ADMIN)


class CustomerAdmin(Service):
    """Staff actions on an account, each audited by the unit's actor."""

    def resend_verification(self, account: Account) -> None:
        """Mail the owner a new verification link; FormInvalid when the address is
        verified already, the account is disabled or erased, or a link went out lately."""
        if account.erased_at is not None or account.disabled_at is not None:
            raise FormInvalid({"verification": "account_not_usable"})
        if account.email_verified_at is not None:
            raise FormInvalid({"verification": "already_verified"})
        recent = self.session.scalar(
            select(AccountToken.id)
            .where(
                AccountToken.account_id == account.id,
                AccountToken.purpose == "verify_email",
                AccountToken.created_at > self.now - RESEND_INTERVAL,
            )
            .limit(1)
        )
        if recent is not None:
            raise FormInvalid({"verification": "verification_recent"})
        self.unit.accounts.send_verification(account)
        self.unit.audit(
            "accounts.verification_resent", subject_type="account", subject_id=account.id
        )

    def disable(self, account: Account, reason: str, *, by: Account | None = None) -> int:
        """Disable the account: every session ends, sign-in and the app's account link
        refuse it, the owner is mailed how to reach support. ``by``: the staff member
        (who may not disable themselves). How many sessions ended; nothing happens to an
        account already disabled."""
        reason = clean_reason(reason)
        if by is not None and by.id == account.id:
            raise FormInvalid({"reason": "cannot_disable_yourself"})
        # Staff leave through the Staff section, which keeps the last admin: disabling one
        # here would let two admins lock each other out.
        if is_staff(account):
            raise FormInvalid({"reason": "cannot_disable_staff"})
        if account.erased_at is not None:
            raise FormInvalid({"reason": "account_erased"})
        if account.disabled_at is not None:
            return 0
        account.disabled_at = self.now
        ended = self.end_sessions(account)
        self.unit.audit(
            "accounts.disabled",
            subject_type="account",
            subject_id=account.id,
            reason=reason,
            sessions=ended,
        )
        log.info("accounts.disabled", account_id=account.id, sessions=ended)
        self.send_mail(
            account.email,
            account.language,
            "account_disabled",
            support=self.settings.url("/support"),
        )
        return ended

    def enable(self, account: Account, reason: str = "") -> bool:
        """Let a disabled account sign in again; whether it was disabled."""
        if account.disabled_at is None or account.erased_at is not None:
            return False
        account.disabled_at = None
        self.unit.audit(
            "accounts.enabled",
            subject_type="account",
            subject_id=account.id,
            reason=" ".join(reason.split()) or None,
        )
        log.info("accounts.enabled", account_id=account.id)
        return True

    def end_sessions(self, account: Account) -> int:
        """Revoke every live session of the account; how many."""
        ended = 0
        for web_session in self.session.scalars(
            select(WebSession).where(
                WebSession.account_id == account.id, WebSession.revoked_at.is_(None)
            )
        ):
            web_session.revoked_at = self.now
            ended += 1
        return ended
