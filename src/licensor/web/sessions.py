"""Server-side web sessions behind an opaque cookie.

The cookie carries 256 random bits; the database keeps only their SHA-256. A session is
rotated at sign-in (a new token, the old one revoked), ends after idleness or an absolute
lifetime, and every session of an account is revoked when its password is reset.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from licensor.config import Settings
from licensor.models import Account, WebSession

SECURE_COOKIE = "__Host-licensor_session"
PLAIN_COOKIE = "licensor_session"
TOUCH_SECONDS = 60  # write last_seen_at at most this often


def cookie_name(secure: bool) -> str:
    # The __Host- prefix needs the Secure attribute, which needs HTTPS.
    return SECURE_COOKIE if secure else PLAIN_COOKIE


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Started:
    token: str
    session: WebSession


def start(
    session: Session,
    settings: Settings,
    account: Account,
    now: datetime,
    *,
    second_factor_pending: bool,
    password_change_required: bool = False,
    replacing: str | None = None,
    user_agent: str = "",
    ip_address: str = "",
) -> Started:
    """A fresh session (and token) for the account; the one it replaces is revoked. The
    browser's User-Agent and address are kept for the security page to show."""
    if replacing:
        end(session, replacing, now)
    token = secrets.token_urlsafe(32)
    web_session = WebSession(
        token_hash=_digest(token),
        account_id=account.id,
        account=account,
        second_factor_pending=second_factor_pending,
        password_change_required=password_change_required,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
        user_agent=user_agent,
        ip_address=ip_address,
    )
    session.add(web_session)
    session.flush()
    return Started(token, web_session)


def load(
    session: Session, settings: Settings, token: str | None, now: datetime
) -> WebSession | None:
    """The live session for a cookie value, touched; None if unknown, revoked or timed out."""
    if not token or len(token) > 100:
        return None
    web_session = session.scalar(
        select(WebSession)
        .where(WebSession.token_hash == _digest(token))
        .options(joinedload(WebSession.account, innerjoin=True))  # the visitor's account
    )
    if web_session is None or web_session.revoked_at is not None:
        return None
    if web_session.account.disabled_at is not None or web_session.account.erased_at is not None:
        return None  # disabling ends its sessions; this holds even for one it missed
    idle_limit = web_session.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if now >= web_session.expires_at or now >= idle_limit:
        web_session.revoked_at = now
        return None
    if (now - web_session.last_seen_at).total_seconds() >= TOUCH_SECONDS:
        web_session.last_seen_at = now
    return web_session


def end(session: Session, token: str, now: datetime) -> WebSession | None:
    """Revoke the session of a cookie value; the session if it was live."""
    web_session = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
    if web_session is not None and web_session.revoked_at is None:
        web_session.revoked_at = now
        return web_session
    return None
