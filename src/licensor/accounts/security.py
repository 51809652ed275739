"""My Account's Security section: the recent sign-ins (when, which browser, from where),
the open sessions with "sign out everywhere else", and the mail that tells the owner of a
sign-in from a browser the account has not seen before.

A browser is recognised by a long-lived random cookie (``BROWSER_COOKIE``); the database
keeps only a keyed hash of it (``sign_ins.browser_hash``), so a copy of the table cannot
be replayed as the cookie. Recording a sign-in costs one indexed lookup (has the account
seen this browser, or any browser?) and one insert, both in the sign-in's own
transaction; the mail goes through the outbox with it. The first sign-in of an account
mails nothing: every browser is new to a new account.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, select

from licensor.accounts.places import Place, open_locations, place_of
from licensor.accounts.user_agents import Browser, parse
from licensor.clock import mail_time
from licensor.logging import log
from licensor.models import Account, SignIn, WebSession
from licensor.units import Service

BROWSER_COOKIE = "licensor_browser"
BROWSER_COOKIE_DAYS = 400  # the longest a browser keeps a cookie (Chrome caps at 400)
BROWSER_PURPOSE = b"browser id"
RECENT_SIGN_INS = 10
USER_AGENT_MAX = 300  # the columns' size
_BROWSER_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def browser_id(cookie: str | None) -> tuple[str, bool]:
    """This browser's id from its cookie, or a new one (anything not of our making is
    replaced); whether it is new, so the answer sets the cookie."""
    if cookie is not None and _BROWSER_ID.match(cookie):
        return cookie, False
    return secrets.token_urlsafe(32), True


def stored_user_agent(header: str | None) -> str:
    """The User-Agent header as stored and shown: no control characters, cut to size."""
    return _CONTROL.sub("", header or "")[:USER_AGENT_MAX]


@dataclass(frozen=True)
class SignInRow:
    occurred_at: datetime
    browser: Browser
    place: Place
    new_browser: bool


@dataclass(frozen=True)
class SessionRow:
    id: int
    browser: Browser
    place: Place
    started_at: datetime
    last_seen_at: datetime
    current: bool


class AccountSecurity(Service):
    """Sign-ins and sessions of one account, as its owner sees and ends them."""

    def record_sign_in(
        self, account: Account, *, browser: str, user_agent: str, ip_address: str
    ) -> bool:
        """Note a full sign-in (password, and the second factor where there is one) by
        the browser whose id is ``browser``; mail the owner when the account has signed
        in before but never with this browser. Whether it was such a new browser."""
        browser_hash = self._browser_hash(browser)
        seen_here, seen_before = self.session.execute(
            select(
                exists().where(
                    SignIn.account_id == account.id, SignIn.browser_hash == browser_hash
                ),
                exists().where(SignIn.account_id == account.id),
            )
        ).one()
        new_browser = bool(seen_before) and not seen_here
        self.session.add(
            SignIn(
                account_id=account.id,
                occurred_at=self.now,
                ip_address=ip_address,
                user_agent=user_agent,
                browser_hash=browser_hash,
                new_browser=new_browser,
            )
        )
        if new_browser:
            self._tell_new_browser(account, user_agent, ip_address)
        return new_browser

    def recent_sign_ins(self, account: Account, language: str) -> list[SignInRow]:
        """The account's latest sign-ins, newest first."""
        rows = self.session.scalars(
            select(SignIn)
            .where(SignIn.account_id == account.id)
            .order_by(SignIn.occurred_at.desc(), SignIn.id.desc())
            .limit(RECENT_SIGN_INS)
        )
        return [
            SignInRow(
                row.occurred_at,
                parse(row.user_agent),
                self._place(row.ip_address, language),
                row.new_browser,
            )
            for row in rows
        ]

    def open_sessions(self, account: Account, current: int, language: str) -> list[SessionRow]:
        """The account's signed-in browsers (this one, ``current``, first), the latest
        active next."""
        rows = self.session.scalars(
            self._live(account).order_by(WebSession.last_seen_at.desc(), WebSession.id.desc())
        )
        sessions = [
            SessionRow(
                row.id,
                parse(row.user_agent),
                self._place(row.ip_address, language),
                row.created_at,
                row.last_seen_at,
                row.id == current,
            )
            for row in rows
        ]
        return sorted(sessions, key=lambda row: not row.current)

    def sign_out_others(self, account: Account, keep: int) -> int:
        """End every other session of the account (also one half signed in, waiting for
        its second factor); how many. Audited as ``accounts.sessions_revoked``."""
        revoked = 0
        for web_session in self.session.scalars(
            select(WebSession).where(
                WebSession.account_id == account.id,
                WebSession.revoked_at.is_(None),
                WebSession.id != keep,
            )
        ):
            web_session.revoked_at = self.now
            revoked += 1
        self.unit.audit(
            "accounts.sessions_revoked",
            actor=f"account:{account.id}",
            subject_type="account",
            subject_id=account.id,
            reason="sign_out_others",
            sessions=revoked,
        )
        log.info(
            "accounts.sessions_revoked",
            account_id=account.id,
            reason="sign_out_others",
            sessions=revoked,
        )
        return revoked

    def _live(self, account: Account) -> Select[WebSession]:
        """The account's sessions that still sign a browser in."""
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        return select(WebSession).where(
            WebSession.account_id == account.id,
            WebSession.revoked_at.is_(None),
            WebSession.second_factor_pending.is_(False),
            WebSession.expires_at > self.now,
            WebSession.last_seen_at > self.now - idle,
        )

    def _browser_hash(self, browser: str) -> bytes:
        return self.keyring.mac(browser, purpose=BROWSER_PURPOSE)

    def _place(self, address: str, language: str) -> Place:
        return place_of(address, open_locations(self.settings.geoip_database), language)

    def _tell_new_browser(self, account: Account, user_agent: str, ip_address: str) -> None:
        browser = parse(user_agent)
        place = self._place(ip_address, account.language)
        self.send_mail(
            account.email,
            account.language,
            "new_sign_in",
            when=mail_time(self.now),
            browser=browser.name,
            version=browser.version,
            system=browser.system,
            address=place.address,
            local=place.local,
            located=place.located,
            security=self.settings.url("/account/security"),
            reset=self.settings.url("/reset-password"),
        )
        self.unit.audit(
            "accounts.new_browser_signed_in",
            actor=f"account:{account.id}",
            subject_type="account",
            subject_id=account.id,
        )
