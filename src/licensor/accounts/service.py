"""Account rules: creation, sign-up and its verification, changes of email and language,
and the one-time links mailed for them (and for resets).

Nothing here tells a caller whether an email has an account: sign-up answers the same
way and does comparable work for known and unknown addresses (a password hash is computed
either way, and a mail is written either way). Signing in and passwords are
accounts/authentication.py's; two-factor accounts/two_factor.py's; an account's licenses
and devices accounts/licenses.py's and accounts/devices.py's.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from licensor.accounts import passwords, totp
from licensor.clock import mail_time
from licensor.errors import FormInvalid
from licensor.models import Account, AccountToken, Role
from licensor.units import Service

VERIFY_HOURS = 48
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


def min_password_length(account: Account | None) -> int:
    """The shortest password the account may choose (None: an account not known yet)."""
    second_factor = account is not None and has_second_factor(account)
    return passwords.MIN_LENGTH_WITH_SECOND_FACTOR if second_factor else passwords.MIN_LENGTH


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


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
        self.unit.audit(
            "accounts.created",
            actor="system",
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
        token = self.issue_token(account, "verify_email", hours=VERIFY_HOURS)
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
        # The address is proven: the orders placed with it join (accounts/purchases.py).
        self.unit.account_purchases.join_from(record.account, record.account.email, via="sign_up")
        return record.account

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
        token = self.issue_token(
            account, "change_email", hours=EMAIL_CHANGE_HOURS, new_email=new_email
        )
        self._send(
            new_email,
            account.language,
            "email_change_confirm",
            link=self._url(f"/account/email/confirm?token={token}"),
            hours=EMAIL_CHANGE_HOURS,
            new_email=new_email,
        )

    def confirm_email_change(self, token: str) -> Account | None:
        record = self.find_token(token, "change_email")
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
        self.unit.audit(
            "accounts.email_changed",
            actor=f"account:{account.id}",
            subject_type="account",
            subject_id=account.id,
            old_email=old_email,
            new_email=account.email,
        )
        self.unit.account_purchases.join_from(account, account.email, via="email_change")
        return account

    def set_language(self, account: Account, language: str) -> None:
        if language in ("en", "it"):
            account.language = language

    # one-time links ------------------------------------------------------------------

    def issue_token(
        self, account: Account, purpose: str, *, hours: int, new_email: str | None = None
    ) -> str:
        """A one-time link's token for ``purpose``, good for ``hours``; only its hash is kept."""
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

    def find_token(self, token: str, purpose: str) -> AccountToken | None:
        """The usable (unspent, unexpired) link of this token for ``purpose``, with its
        account; None for anything else."""
        record = self.session.scalar(
            select(AccountToken)
            .where(AccountToken.token_hash == token_hash(token))
            .options(joinedload(AccountToken.account, innerjoin=True))
        )
        if record is None or record.purpose != purpose or record.used_at is not None:
            return None
        if record.expires_at <= self.now:
            return None
        return record

    def _use_token(self, token: str, purpose: str) -> AccountToken | None:
        record = self.find_token(token, purpose)
        if record is not None:
            record.used_at = self.now
        return record

    def _url(self, path: str) -> str:
        return self.settings.url(path)

    def _when(self) -> str:
        return mail_time(self.now)

    def _send(self, to: str, language: str, template: str, **context: Any) -> None:
        self.send_mail(to, language, template, **context)

    def _mail(self, account: Account, template: str, **context: Any) -> None:
        self._send(account.email, account.language, template, **context)
