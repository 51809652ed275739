"""Proving who one is: the password at sign-in, signing out, resetting a forgotten password
and changing a known one, and the audit of each.

Nothing here tells a caller whether an email has an account: sign-in and reset answer the
same way and do comparable work for known and unknown addresses (a password hash is
verified either way, a mail is written either way). Events about an email without an
account name only its keyed hash. The second factor is accounts/two_factor.py's; the
throttle in front of every password check is accounts/throttle.py's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from licensor.accounts import passwords
from licensor.accounts.service import email_problem, has_second_factor, normalize_email
from licensor.clock import mail_time
from licensor.errors import FormInvalid, InvalidCredentials
from licensor.logging import log
from licensor.models import Account, AccountToken, WebSession
from licensor.units import Service
from licensor.web import sessions

RESET_HOURS = 1


class Authentication(Service):
    """Sign-in, sign-out and password rules bound to one unit of work."""

    # signing in and out --------------------------------------------------------------

    def authenticate(
        self, email: str, password: str, *, actor: str = "system", email_key: str = ""
    ) -> Account:
        """The account whose password this is, or InvalidCredentials, in the same time.

        A failure is audited (and logged) as ``accounts.sign_in_failed`` by ``actor`` (the
        caller's address), with the account as subject when there is one and, either way,
        ``email_key`` (a keyed hash), never the email typed: the commit that keeps the row
        is the caller's.
        """
        account = self.unit.accounts.by_email(email)
        if account is None:
            passwords.burn_verification(password)
            self.sign_in_failed(None, actor=actor, email_key=email_key, stage="password")
            raise InvalidCredentials()
        if not passwords.verify_password(account.password_hash, password):
            self.sign_in_failed(account, actor=actor, email_key=email_key, stage="password")
            raise InvalidCredentials()
        if account.disabled_at is not None or account.erased_at is not None:
            # Answered as a wrong password: no form tells a disabled account apart.
            self.sign_in_failed(account, actor=actor, email_key=email_key, stage="disabled")
            raise InvalidCredentials()
        if passwords.needs_rehash(account.password_hash):
            account.password_hash = passwords.hash_password(password)
        return account

    def password_is_weak(self, account: Account, password: str) -> bool:
        """Whether a password that signed in fails today's policy for this account (with
        a second factor, enrolled or about to be, a shorter one is enough)."""
        return (
            passwords.policy_problem(
                password, account.email, second_factor=has_second_factor(account)
            )
            is not None
        )

    def sign_in_failed(
        self, account: Account | None, *, actor: str, email_key: str, stage: str, **details: Any
    ) -> None:
        """A wrong password or code (``stage``), audited and logged."""
        self.auth_event(
            "accounts.sign_in_failed", account, actor, email_key, stage=stage, **details
        )

    def auth_event(
        self,
        action: str,
        account: Account | None,
        actor: str,
        email_key: str,
        **details: Any,
    ) -> None:
        """An authentication event, audited and logged: the account when there is one,
        else only the keyed hash of the email typed (an unknown email is never written)."""
        self.unit.audit(
            action,
            actor=actor,
            subject_type="account" if account else "email",
            subject_id=account.id if account else None,
            email_hash=email_key,
            **details,
        )
        log.info(
            action,
            actor=actor,
            account_id=account.id if account else None,
            email_hash=email_key,
            **details,
        )

    def end_session(self, token: str, *, actor: str) -> None:
        """Sign out: the session is revoked, and that is audited."""
        web_session = sessions.end(self.session, token, self.now)
        if web_session is not None:
            self.unit.audit(
                "accounts.sessions_revoked",
                actor=actor,
                subject_type="account",
                subject_id=web_session.account_id,
                reason="sign_out",
                sessions=1,
            )
            log.info(
                "accounts.sessions_revoked", account_id=web_session.account_id, reason="sign_out"
            )

    # passwords -----------------------------------------------------------------------

    def request_password_reset(
        self,
        email: str,
        language: str,
        *,
        mail: bool = True,
        actor: str = "system",
        email_key: str = "",
    ) -> None:
        """Mail a reset link, or a note that there is no account; same answer either way.

        ``mail`` False: too many requests for this email lately, so nothing is sent (and
        that is audited as suppressed); the links already sent keep working, so a flood
        of requests cannot stop the owner from resetting.
        """
        email = normalize_email(email)
        if email_problem(email):
            raise FormInvalid({"email": "email_invalid"})
        accounts = self.unit.accounts
        account = accounts.by_email(email)
        if not mail:
            self.auth_event("accounts.password_reset_suppressed", account, actor, email_key)
            return
        self.auth_event("accounts.password_reset_requested", account, actor, email_key)
        if account is None:
            self.send_mail(
                email, language, "reset_no_account", sign_up=self.settings.url("/sign-up")
            )
            return
        token = accounts.issue_token(account, "reset_password", hours=RESET_HOURS)
        self.send_mail(
            account.email,
            account.language,
            "reset_password",
            link=self.settings.url(f"/reset-password/choose?token={token}"),
            hours=RESET_HOURS,
        )

    def reset_account(self, token: str) -> Account | None:
        """The account a usable reset link is for."""
        record = self.unit.accounts.find_token(token, "reset_password")
        return record.account if record else None

    def reset_password(
        self, token: str, new_password: str, *, actor: str = "system"
    ) -> Account | None:
        """Set the password a usable reset link asks for; None when the link is not."""
        record = self.unit.accounts.find_token(token, "reset_password")
        if record is None:
            return None
        account = record.account
        if problem := passwords.policy_problem(
            new_password, account.email, second_factor=has_second_factor(account)
        ):
            raise FormInvalid({"password": problem})
        # This link and every other reset link still out for the account are spent.
        for pending in self.session.scalars(
            select(AccountToken).where(
                AccountToken.account_id == account.id,
                AccountToken.purpose == "reset_password",
                AccountToken.used_at.is_(None),
            )
        ):
            pending.used_at = self.now
        self._set_password(account, new_password, reason="reset")
        self.unit.audit(
            "accounts.password_reset_completed",
            actor=actor,
            subject_type="account",
            subject_id=account.id,
        )
        log.info("accounts.password_reset_completed", account_id=account.id, actor=actor)
        # Whoever asked for the reset owns the mailbox: the email is verified too.
        account.email_verified_at = account.email_verified_at or self.now
        return account

    def change_password(
        self, account: Account, current: str, new: str, *, keep: int | None
    ) -> None:
        """A signed-in owner's change: every other session (all but ``keep``) ends."""
        if not passwords.verify_password(account.password_hash, current):
            raise FormInvalid({"current_password": "password_wrong"})
        if problem := passwords.policy_problem(
            new, account.email, second_factor=has_second_factor(account)
        ):
            raise FormInvalid({"new_password": problem})
        self._set_password(account, new, keep_session=keep, reason="password_changed")

    def _set_password(
        self, account: Account, password: str, *, reason: str, keep_session: int | None = None
    ) -> None:
        account.password_hash = passwords.hash_password(password)
        account.password_changed_at = self.now
        revoked = self._revoke_sessions(account, keep=keep_session)
        if keep_session is not None:
            # The session that changed it stays, and no longer needs to change it.
            kept = self.session.get(WebSession, keep_session)
            if kept is not None:
                kept.password_change_required = False
        actor = f"account:{account.id}"
        self.unit.audit(
            "accounts.password_changed", actor=actor, subject_type="account", subject_id=account.id
        )
        self.unit.audit(
            "accounts.sessions_revoked",
            actor=actor,
            subject_type="account",
            subject_id=account.id,
            reason=reason,
            sessions=revoked,
        )
        log.info(
            "accounts.sessions_revoked", account_id=account.id, reason=reason, sessions=revoked
        )
        self.send_mail(
            account.email,
            account.language,
            "password_changed",
            when=mail_time(self.now),
            reset=self.settings.url("/reset-password"),
        )

    def _revoke_sessions(self, account: Account, *, keep: int | None) -> int:
        """Revoke every live session of the account but ``keep``; how many were revoked."""
        query = select(WebSession).where(
            WebSession.account_id == account.id, WebSession.revoked_at.is_(None)
        )
        revoked = 0
        for web_session in self.session.scalars(query):
            if web_session.id != keep:
                web_session.revoked_at = self.now
                revoked += 1
        return revoked
