"""Account rules: sign-up, verification, sign-in, resets, changes of email and password,
two-factor, and joining licenses and devices to an account.

Nothing here tells a caller whether an email has an account: sign-up, sign-in and reset
answer the same way and do comparable work for known and unknown addresses (a password
hash is computed or verified either way, and a mail is written either way).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from licensor.accounts import passwords, totp
from licensor.audit import audit
from licensor.clock import mail_time
from licensor.errors import (
    FormInvalid,
    InvalidCredentials,
    LicenseLinkedElsewhere,
    LicenseNotOnDevice,
)
from licensor.licensing import formats
from licensor.logging import log
from licensor.models import (
    Account,
    AccountToken,
    Activation,
    ActivationCode,
    Device,
    License,
    Order,
    Role,
    Subscription,
    WebSession,
)
from licensor.units import Service
from licensor.web import sessions

VERIFY_HOURS = 48
RESET_HOURS = 1
EMAIL_CHANGE_HOURS = 24
TOTP_PURPOSE = b"totp_secret"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 320 or " " in email:
        return "email_invalid"
    return None


def has_second_factor(account: Account) -> bool:
    """Whether the account signs in with a second factor: enrolled, or staff (who enrol
    at their first sign-in, before anything opens). A shorter password is then enough."""
    return account.totp_secret_ciphertext is not None or account.needs_two_factor


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


@dataclass(frozen=True)
class LinkedLicense:
    public_id: str
    plan: str
    already_linked: bool


def mask_email(email: str) -> str:
    """An address shown to someone else than its owner: ``ma***@example.com``, enough for
    its owner to recognise, little for anyone else."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}"


class Accounts(Service):
    """Account rules bound to one unit of work."""

    # lookups -------------------------------------------------------------------------

    def by_email(self, email: str) -> Account | None:
        return self.session.scalar(select(Account).where(Account.email == normalize_email(email)))

    def get(self, account_id: int) -> Account:
        return self.session.get_one(Account, account_id)

    # creation ------------------------------------------------------------------------

    def create(
        self,
        email: str,
        password: str,
        *,
        roles: list[str],
        language: str = "en",
        verified: bool = False,
        totp_secret: str | None = None,
    ) -> Account:
        """An account made by the vendor (``licensor users create``) or by sign-up."""
        email = normalize_email(email)
        problems = {}
        if problem := email_problem(email):
            problems["email"] = problem
        # Staff always have a second factor: given here, or enrolled at their first sign-in.
        second_factor = bool(totp_secret) or bool({Role.AGENT, Role.ADMIN} & set(roles))
        if problem := passwords.policy_problem(password, email, second_factor=second_factor):
            problems["password"] = problem
        if unknown := set(roles) - set(Role):
            problems["role"] = f"unknown_role:{','.join(sorted(unknown))}"
        if problems:
            raise FormInvalid(problems)
        if self.by_email(email) is not None:
            raise FormInvalid({"email": "email_taken"})
        account = Account(
            email=email,
            password_hash=passwords.hash_password(password),
            email_verified_at=self.now if verified else None,
            language=language if language in ("en", "it") else "en",
            roles=sorted(set(roles)),
            created_at=self.now,
            password_changed_at=self.now,
        )
        if totp_secret:
            try:
                secret = totp.normalize_secret(totp_secret)
            except ValueError:
                raise FormInvalid({"totp_secret": "totp_secret_invalid"}) from None
            account.totp_secret_ciphertext = self.keyring.encrypt(secret, purpose=TOTP_PURPOSE)
        self.session.add(account)
        self.session.flush()
        audit(
            self.session,
            self.now,
            actor="system",
            action="accounts.created",
            subject_type="account",
            subject_id=account.id,
            roles=account.roles,
        )
        return account

    def sign_up(self, email: str, password: str, language: str) -> None:
        """Start an account, or tell the owner of an existing one; the caller cannot tell."""
        email = normalize_email(email)
        problems = {}
        if problem := email_problem(email):
            problems["email"] = problem
        if problem := passwords.policy_problem(password, email):
            problems["password"] = problem
        if problems:
            raise FormInvalid(problems)
        existing = self.by_email(email)
        if existing is not None:
            passwords.hash_password(password)  # the work a new account would have cost
            self._mail(
                existing,
                "sign_up_existing",
                sign_in=self._url("/sign-in"),
                reset=self._url("/reset-password"),
            )
            return
        account = self.create(email, password, roles=[Role.CUSTOMER], language=language)
        self.send_verification(account)

    def send_verification(self, account: Account) -> None:
        token = self._token(account, "verify_email", hours=VERIFY_HOURS)
        self._mail(
            account,
            "verify_email",
            link=self._url(f"/verify-email?token={token}"),
            hours=VERIFY_HOURS,
        )

    def verify_email(self, token: str) -> Account | None:
        record = self._use_token(token, "verify_email")
        if record is None:
            return None
        record.account.email_verified_at = record.account.email_verified_at or self.now
        return record.account

    # signing in ----------------------------------------------------------------------

    def authenticate(
        self, email: str, password: str, *, actor: str = "system", email_key: str = ""
    ) -> Account:
        """The account whose password this is, or InvalidCredentials, in the same time.

        A failure is audited (and logged) as ``accounts.sign_in_failed`` by ``actor`` (the
        caller's address), with the account as subject when there is one and, either way,
        ``email_key`` (a keyed hash), never the email typed: the commit that keeps the row
        is the caller's.
        """
        account = self.by_email(email)
        if account is None:
            passwords.burn_verification(password)
            self.sign_in_failed(None, actor=actor, email_key=email_key, stage="password")
            raise InvalidCredentials()
        if not passwords.verify_password(account.password_hash, password):
            self.sign_in_failed(account, actor=actor, email_key=email_key, stage="password")
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
        audit(
            self.session,
            self.now,
            actor=actor,
            action=action,
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
            audit(
                self.session,
                self.now,
                actor=actor,
                action="accounts.sessions_revoked",
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
        account = self.by_email(email)
        if not mail:
            self.auth_event("accounts.password_reset_suppressed", account, actor, email_key)
            return
        self.auth_event("accounts.password_reset_requested", account, actor, email_key)
        if account is None:
            self._send(email, language, "reset_no_account", sign_up=self._url("/sign-up"))
            return
        token = self._token(account, "reset_password", hours=RESET_HOURS)
        self._mail(
            account,
            "reset_password",
            link=self._url(f"/reset-password/choose?token={token}"),
            hours=RESET_HOURS,
        )

    def token_is_usable(self, token: str, purpose: str) -> bool:
        return self._find_token(token, purpose) is not None

    def reset_account(self, token: str) -> Account | None:
        """The account a usable reset link is for."""
        record = self._find_token(token, "reset_password")
        return record.account if record else None

    def reset_password(
        self, token: str, new_password: str, *, actor: str = "system"
    ) -> Account | None:
        record = self._find_token(token, "reset_password")
        if record is None:
            return None
        if problem := passwords.policy_problem(
            new_password, record.account.email, second_factor=has_second_factor(record.account)
        ):
            raise FormInvalid({"password": problem})
        account = record.account
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
        audit(
            self.session,
            self.now,
            actor=actor,
            action="accounts.password_reset_completed",
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
        revoked = revoke_sessions(self.session, account.id, self.now, keep=keep_session)
        if keep_session is not None:
            # The session that changed it stays, and no longer needs to change it.
            kept = self.session.get(WebSession, keep_session)
            if kept is not None:
                kept.password_change_required = False
        self._audit(
            account, "accounts.password_changed", subject_type="account", subject_id=account.id
        )
        self._audit(
            account,
            "accounts.sessions_revoked",
            subject_type="account",
            subject_id=account.id,
            reason=reason,
            sessions=revoked,
        )
        log.info(
            "accounts.sessions_revoked", account_id=account.id, reason=reason, sessions=revoked
        )
        self._mail(
            account, "password_changed", when=self._when(), reset=self._url("/reset-password")
        )

    # email changes -------------------------------------------------------------------

    def request_email_change(
        self, account: Account, password: str, new_email: str, *, code: str = ""
    ) -> None:
        """Mail the new address a confirmation link. The password, and the second factor
        where one is enrolled (``code``: from the app, or a recovery code), come first:
        the email is where password resets go, so moving it moves the account."""
        new_email = normalize_email(new_email)
        if problem := email_problem(new_email):
            raise FormInvalid({"new_email": problem})
        if not passwords.verify_password(account.password_hash, password):
            raise FormInvalid({"password": "password_wrong"})
        if account.totp_secret_ciphertext is not None:
            factor = self.unit.two_factor
            if not factor.verify(account, code, actor=f"account:{account.id}"):
                raise FormInvalid({"email_code": "second_factor_wrong"})
        if self.by_email(new_email) is not None:
            # Do not reveal that the address has an account; nothing is sent to it.
            return
        token = self._token(account, "change_email", hours=EMAIL_CHANGE_HOURS, new_email=new_email)
        self._send(
            new_email,
            account.language,
            "email_change_confirm",
            link=self._url(f"/account/email/confirm?token={token}"),
            hours=EMAIL_CHANGE_HOURS,
            new_email=new_email,
        )

    def confirm_email_change(self, token: str) -> Account | None:
        record = self._find_token(token, "change_email")
        if record is None or record.new_email is None or self.by_email(record.new_email):
            return None
        record.used_at = self.now
        account = record.account
        old_email = account.email
        account.email = record.new_email
        account.email_verified_at = self.now
        self._send(
            old_email,
            account.language,
            "email_changed_notice",
            new_email=account.email,
            when=self._when(),
            support=self._url("/support"),
        )
        self._audit(
            account,
            "accounts.email_changed",
            subject_type="account",
            subject_id=account.id,
            old_email=old_email,
            new_email=account.email,
        )
        return account

    def set_language(self, account: Account, language: str) -> None:
        if language in ("en", "it"):
            account.language = language

    # licenses and devices --------------------------------------------------------------

    def link_license(
        self, account: Account, license_key: str, fingerprint: str, *, via: str
    ) -> LinkedLicense:
        """Join a license (and its code) to the account, from a device that holds a seat.

        A license already in another account is refused, never moved (F4).
        """
        licensing = self.unit.licensing
        license = licensing.find_license(license_key, lock=True)
        seat = licensing.device_seat(license, fingerprint)
        if seat is None:
            raise LicenseNotOnDevice()
        code = license.activation_code
        if code is None:
            raise LicenseNotOnDevice("this license has no activation code to add")
        return self.attach_code(account, code, license, seat.device, via=via)

    def link_code(self, account: Account, code_text: str) -> LinkedLicense:
        """Add a code typed on the Licenses page: possession of the code is the proof.
        A code that could not activate yet because its sale is not recorded cannot be
        claimed either (``CodeNotSold``): a stolen, unsold card is worth nothing."""
        licensing = self.unit.licensing
        code = licensing.find_code(code_text, lock=True)
        if code.license is None:
            licensing.require_sale(code)
        return self.attach_code(account, code, code.license, None, via="web")

    def attach_code(
        self,
        account: Account,
        code: ActivationCode,
        license: License | None,
        device: Device | None,
        *,
        via: str,
        order_told_by_caller: bool = False,
    ) -> LinkedLicense:
        """Join a code (and its license) to the account: ``via`` says how (``app``,
        ``web``, ``device_code``, ``support``). The account shows the code in full, so
        the owner is told, and so is the order's own address when it is another (unless
        ``order_told_by_caller``: the desk asks that address first and tells it once for
        a whole order): a code never moves silently. A code in another account is
        refused, never moved."""
        public_id = license.public_id if license else "—"
        if code.account_id == account.id:
            if device is not None:
                self.connect_device(account, device)
            return LinkedLicense(public_id, code.plan.code, already_linked=True)
        if code.account_id is not None:
            self._audit(
                account,
                "accounts.license_link_refused",
                subject_type="activation_code",
                subject_id=code.id,
                via=via,
            )
            raise LicenseLinkedElsewhere()
        code.account_id = account.id
        code.linked_at = self.now
        if device is not None:
            self.connect_device(account, device)
        told = (
            "by_support"
            if order_told_by_caller
            else self._tell_order_of_join(account, code, license, via)
        )
        self._audit(
            account,
            "accounts.license_linked",
            subject_type="activation_code",
            subject_id=code.id,
            via=via,
            public_id=public_id,
            told=told,
        )
        self._mail(
            account,
            "license_added",
            plan=code.plan.name,
            public_id=license.public_id if license else None,  # None: never activated yet
            when=self._when(),
            device=device.name if device else None,  # None: typed on the Licenses page
            link=self._url("/account/licenses"),
        )
        return LinkedLicense(public_id, code.plan.code, already_linked=False)

    def _tell_order_of_join(
        self, account: Account, code: ActivationCode, license: License | None, via: str
    ) -> str | None:
        """Mail the address of the order that delivered the code (ours or a partner's)
        when it is not the account's: its code is now shown in full in someone's
        account. The masked address told, for the audit row, or None."""
        if code.order_id is None:
            return None
        order = self.session.get(Order, code.order_id)
        if order is None or normalize_email(order.customer_email) == account.email:
            return None
        self._send(
            order.customer_email,
            order.language,
            "license_joined_account",
            plan=code.plan.name,
            public_id=license.public_id if license else None,
            code=formats.mask_code(self.unit.licensing.reveal_code(code)),
            account=mask_email(account.email),
            order_number=order.number,
            when=self._when(),
            via=via,
            support=self._url("/support"),
        )
        return mask_email(order.customer_email)

    def connect_device(self, account: Account, device: Device) -> None:
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

    # helpers -------------------------------------------------------------------------

    def _token(
        self, account: Account, purpose: str, *, hours: int, new_email: str | None = None
    ) -> str:
        token, digest = new_token()
        self.session.add(
            AccountToken(
                token_hash=digest,
                account_id=account.id,
                purpose=purpose,
                new_email=new_email,
                created_at=self.now,
                expires_at=self.now + timedelta(hours=hours),
            )
        )
        return token

    def _find_token(self, token: str, purpose: str) -> AccountToken | None:
        record = self.session.scalar(
            select(AccountToken).where(AccountToken.token_hash == token_hash(token))
        )
        if record is None or record.purpose != purpose or record.used_at is not None:
            return None
        if record.expires_at <= self.now:
            return None
        return record

    def _use_token(self, token: str, purpose: str) -> AccountToken | None:
        record = self._find_token(token, purpose)
        if record is not None:
            record.used_at = self.now
        return record

    def _url(self, path: str) -> str:
        return self.settings.url(path)

    def _when(self) -> str:
        return mail_time(self.now)

    def _audit(self, account: Account, action: str, **fields: Any) -> None:
        audit(self.session, self.now, actor=f"account:{account.id}", action=action, **fields)

    def _send(self, to: str, language: str, template: str, **context: Any) -> None:
        self.send_mail(to, language, template, **context)

    def _mail(self, account: Account, template: str, **context: Any) -> None:
        self._send(account.email, account.language, template, **context)


def revoke_sessions(
    session: Session, account_id: int, now: datetime, keep: int | None = None
) -> int:
    """Revoke every live session of the account but ``keep``; how many were revoked."""
    query = select(WebSession).where(
        WebSession.account_id == account_id, WebSession.revoked_at.is_(None)
    )
    revoked = 0
    for web_session in session.scalars(query):
        if web_session.id != keep:
            web_session.revoked_at = now
            revoked += 1
    return revoked
