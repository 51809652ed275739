"""Accounts, their server-side web sessions, one-time tokens and device connections.

A session's or a token's account is loaded with it (``joinedload``): relationships are
``lazy="raise"``, so a hidden query is an error, not a surprise."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from licensor.models.base import Base, IdMixin, UTCDateTime


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    ADMIN = "admin"


class Account(IdMixin, Base):
    __tablename__ = "accounts"

    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(5), default="en")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    totp_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Disabled by staff (the console): no sign-in, no session; its licenses keep working.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Erased on request (GDPR): personal data gone, the row kept for what law and fraud
    # prevention need (docs/privacy.md).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def has_role(self, role: str) -> bool:
        return role in (self.roles or [])

    @property
    def needs_two_factor(self) -> bool:
        """Agents and admins must enrol; customers may."""
        return self.has_role(Role.AGENT) or self.has_role(Role.ADMIN)


class WebSession(IdMixin, Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    second_factor_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    # Signed in with a password today's policy refuses: pages send it to change it first.
    password_change_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the security page shows of each open session (never used to authenticate).
    user_agent: Mapped[str] = mapped_column(String(300), default="", server_default="")
    ip_address: Mapped[str] = mapped_column(String(45), default="", server_default="")

    account: Mapped[Account] = relationship(lazy="raise")


class AccountEmail(IdMixin, Base):
    """A further address of an account. Once verified, orders placed with it join the
    account (as do those of the account's own address, ``Account.email``)."""

    __tablename__ = "account_emails"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignIn(IdMixin, Base):
    """One successful sign-in, for the security page and the new-browser mail.

    ``browser_hash`` is a keyed hash of a long-lived random cookie: a sign-in whose hash
    the account has not seen before comes from a new browser."""

    __tablename__ = "sign_ins"
    __table_args__ = (Index("ix_sign_ins_account_browser", "account_id", "browser_hash"),)

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    browser_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    new_browser: Mapped[bool] = mapped_column(Boolean, default=False)


class AccountToken(IdMixin, Base):
    """A one-time link sent by mail: verify an email, reset a password, confirm a change."""

    __tablename__ = "account_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    new_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship(lazy="raise")


class DeviceAuthorization(IdMixin, Base):
    """An app asking to join an account by a short code (RFC 8628 device grant)."""

    __tablename__ = "device_authorizations"

    device_code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_code: Mapped[str] = mapped_column(String(16), index=True)
    fingerprint: Mapped[str] = mapped_column(String(128))
    device_name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The licenses the app proved it holds (their keys, each with a live seat on this
    # fingerprint): all that approval may join to the account. The fingerprint alone is
    # no proof: it travels in every validation and license file.
    proven_license_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class RecoveryCode(IdMixin, Base):
    """A one-time code that stands in for the authenticator app at sign-in. Only a keyed
    hash is kept (``TwoFactor.recovery_hash``); the owner saw the code once."""

    __tablename__ = "recovery_codes"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
