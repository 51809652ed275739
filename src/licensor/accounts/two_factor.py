"""Two-factor sign-in rules: enrolling, replacing and turning off TOTP, recovery codes,
and the second step of signing in.

Every change needs the password, and the current second factor where one is enrolled
(a code from the app, or a recovery code), so a stolen session or password alone cannot
move the second factor to an attacker's phone. Each change is audited and mailed to the
owner with what to do if it was not them. Recovery codes are shown once and kept only as
keyed hashes.
"""

from __future__ import annotations

import secrets
from typing import Any

import segno
from sqlalchemy import delete, func, select

from licensor.accounts import passwords, totp
from licensor.clock import mail_time
from licensor.errors import FormInvalid
from licensor.licensing.formats import CROCKFORD as ALPHABET
from licensor.logging import log
from licensor.models import Account, RecoveryCode
from licensor.units import Service

TOTP_PURPOSE = b"totp_secret"  # the column's encryption purpose (as accounts/service.py)
RECOVERY_PURPOSE = b"recovery codes"
RECOVERY_CODES = 10
RECOVERY_SYMBOLS = 10  # two groups of five: 50 random bits each


# What the mail says (its ``kind``) and the action audited and logged for each change.
ACTIONS = {
    "enabled": "accounts.two_factor_enrolled",
    "replaced": "accounts.two_factor_replaced",
    "disabled": "accounts.two_factor_disabled",
    "recovery_codes": "accounts.recovery_codes_regenerated",
    "recovery_code_used": "accounts.recovery_code_used",
}


def new_recovery_code() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(RECOVERY_SYMBOLS))
    return f"{symbols[:5]}-{symbols[5:]}"


def normalize_recovery_code(text: str) -> str | None:
    """Upper case without spaces or hyphens, with the look-alikes of activation codes
    read as they are there (O as 0, I and L as 1); None if it cannot be one."""
    compact = "".join(text.split()).replace("-", "").upper()
    compact = compact.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(compact) != RECOVERY_SYMBOLS or any(symbol not in ALPHABET for symbol in compact):
        return None
    return compact


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code: no script, no style attribute, no data:
    URL, so it shows under a ``default-src 'self'`` content security policy."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff")


class TwoFactor(Service):
    """Second-factor rules bound to one unit of work."""

    # --- state ------------------------------------------------------------------------

    def secret(self, account: Account) -> str | None:
        if account.totp_secret_ciphertext is None:
            return None
        return self.keyring.decrypt(account.totp_secret_ciphertext, purpose=TOTP_PURPOSE)

    def remaining_recovery_codes(self, account: Account) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))
            )
            or 0
        )

    # --- the second step of signing in, and confirmations ------------------------------

    def verify(self, account: Account, code: str, *, actor: str) -> bool:
        """A current TOTP code (each usable once) or an unused recovery code (spent now,
        its owner told); False for anything else, or when nothing is enrolled."""
        secret = self.secret(account)
        if secret is None:
            return False
        step = totp.verify(secret, code, self.now, account.totp_last_step)
        if step is not None:
            account.totp_last_step = step
            return True
        return self._use_recovery_code(account, code, actor=actor)

    def _use_recovery_code(self, account: Account, code: str, *, actor: str) -> bool:
        compact = normalize_recovery_code(code)
        if compact is None:
            return False
        record = self.session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.code_hash == self.recovery_hash(account, compact),
                RecoveryCode.used_at.is_(None),
            )
        )
        if record is None:
            return False
        record.used_at = self.now
        self.session.flush()
        remaining = self.remaining_recovery_codes(account)
        self._changed(account, "recovery_code_used", actor=actor, remaining=remaining)
        return True

    # --- changes ------------------------------------------------------------------------

    def enrol(
        self,
        account: Account,
        secret: str,
        code: str,
        *,
        password: str | None,
        current_code: str = "",
        actor: str,
    ) -> list[str]:
        """Turn two-factor on, or move it to a new authenticator (``current_code`` from
        the old one, or a recovery code, proves the owner); the new recovery codes.

        ``password`` is None only at a staff account's first sign-in, which proved the
        password a moment before on the same half-signed-in session.
        """
        replacing = account.totp_secret_ciphertext is not None
        problems: dict[str, str] = {}
        if password is not None and not passwords.verify_password(account.password_hash, password):
            problems["password"] = "password_wrong"
        try:
            secret = totp.normalize_secret(secret)
            step = totp.verify(secret, code, self.now, None)
        except ValueError:
            step = None
        if step is None:
            problems["code"] = "code_wrong"
        if replacing and not problems and not self.verify(account, current_code, actor=actor):
            problems["current_code"] = "second_factor_wrong"
        if problems:
            raise FormInvalid(problems)
        account.totp_secret_ciphertext = self.keyring.encrypt(secret, purpose=TOTP_PURPOSE)
        account.totp_last_step = step
        codes = self._new_recovery_codes(account)
        self._changed(account, "replaced" if replacing else "enabled", actor=actor)
        return codes

    def disable(self, account: Account, password: str, code: str, *, actor: str) -> None:
        if account.needs_two_factor:
            raise FormInvalid({"password": "two_factor_required_for_role"})
        self._confirm(account, password, code, actor=actor)
        account.totp_secret_ciphertext = None
        account.totp_last_step = None
        self.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
        self._changed(account, "disabled", actor=actor)

    def regenerate_recovery_codes(
        self, account: Account, password: str, code: str, *, actor: str
    ) -> list[str]:
        self._confirm(account, password, code, actor=actor)
        codes = self._new_recovery_codes(account)
        self._changed(account, "recovery_codes", actor=actor)
        return codes

    # --- helpers ------------------------------------------------------------------------

    def recovery_hash(self, account: Account, compact: str) -> bytes:
        return self.keyring.mac(f"{account.id}:{compact}", purpose=RECOVERY_PURPOSE)

    def _confirm(self, account: Account, password: str, code: str, *, actor: str) -> None:
        """The password and the current second factor, or FormInvalid naming what failed."""
        problems = {}
        if not passwords.verify_password(account.password_hash, password):
            problems["password"] = "password_wrong"
        # A recovery code is spent only once the password is right.
        elif not self.verify(account, code, actor=actor):
            problems["code"] = "second_factor_wrong"
        if problems:
            raise FormInvalid(problems)

    def _new_recovery_codes(self, account: Account) -> list[str]:
        self.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        for code in codes:
            compact = normalize_recovery_code(code)
            assert compact is not None
            self.session.add(
                RecoveryCode(
                    account_id=account.id,
                    code_hash=self.recovery_hash(account, compact),
                    created_at=self.now,
                )
            )
        self.session.flush()
        return codes

    def _changed(self, account: Account, kind: str, *, actor: str, **details: Any) -> None:
        action = ACTIONS[kind]
        self.unit.audit(
            action,
            actor=actor,
            subject_type="account",
            subject_id=account.id,
            **details,
        )
        log.info(action, account_id=account.id, actor=actor, **details)
        self.send_mail(
            account.email,
            account.language,
            "two_factor_changed",
            kind=kind,
            when=mail_time(self.now),
            remaining=details.get("remaining"),
            settings=self.settings.url("/account/settings"),
            reset=self.settings.url("/reset-password"),
            support=self.settings.url("/support"),
        )
