"""What the sign-in pages share: the throttle, the known-browser cookie, the session each
step starts, and the pages a throttled attempt gets."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from licensor.accounts import sessions
from licensor.accounts.service import Accounts
from licensor.accounts.throttle import (
    KNOWN_BROWSER_COOKIE,
    KNOWN_BROWSER_DAYS,
    SignInThrottle,
    SignInThrottled,
)
from licensor.deps import client_address
from licensor.models import Account
from licensor.web.i18n import LANGUAGES
from licensor.web.pages import PageUnit, Web, safe_next

PASSWORD_CHANGE_PAGE = "/account/settings#password"


def throttle(web: Web) -> SignInThrottle:
    return SignInThrottle.of(web.limiter, web.keyring)


def actor(request: Request) -> str:
    """How audit rows name a visitor who is not signed in yet."""
    return f"web:{client_address(request)}"


def _today(unit: PageUnit) -> int:
    return unit.now.toordinal()


def known_browser(unit: PageUnit, guard: SignInThrottle, email_key: str) -> bool:
    cookie = unit.request.cookies.get(KNOWN_BROWSER_COOKIE)
    return guard.known_browser(cookie, email_key, _today(unit))


def check(unit: PageUnit, guard: SignInThrottle, account: Account | None, email_key: str) -> None:
    """Raise SignInThrottled (audited as ``accounts.sign_in_throttled``) when this attempt
    must wait; it is then answered without checking the password or code."""
    request = unit.request
    try:
        guard.check(
            email_key,
            client_address(request),
            known_browser=known_browser(unit, guard, email_key),
        )
    except SignInThrottled as throttled:
        Accounts(unit.session, unit.web.keyring, unit.web.settings, unit.now).auth_event(
            "accounts.sign_in_throttled",
            account,
            actor(request),
            email_key,
            locked=throttled.locked,
            retry_after=throttled.retry_after,
        )
        raise


def throttled_message(unit: PageUnit, throttled: SignInThrottled) -> str:
    if throttled.locked:
        return unit._(
            "There have been too many failed attempts to sign in to this account. To sign "
            "in, reset your password, or use a browser you have signed in with before."
        )
    return unit._(
        "There have been too many failed attempts to sign in to this account. Wait "
        "{seconds} seconds and try again, or reset your password."
    ).format(seconds=throttled.retry_after)


def throttled_page(
    unit: PageUnit, throttled: SignInThrottled, template: str, **context: object
) -> Response:
    response = unit.render(
        template, status=429, error=throttled_message(unit, throttled), **context
    )
    response.headers["Retry-After"] = str(throttled.retry_after)
    return response


def start_session(
    unit: PageUnit, account: Account, *, pending: bool, password_change_required: bool
) -> None:
    """A new session (and cookie) for the account, replacing the browser's current one."""
    web = unit.web
    started = sessions.start(
        unit.session,
        web.settings,
        account,
        unit.now,
        second_factor_pending=pending,
        password_change_required=password_change_required,
        replacing=web.session_token(unit.request),
    )
    unit.set_cookie(sessions.cookie_name(web.is_secure(unit.request)), started.token)
    if account.language in LANGUAGES:
        unit.set_cookie("licensor_lang", account.language, max_age=365 * 86400)


def finish(
    unit: PageUnit,
    account: Account,
    guard: SignInThrottle,
    *,
    next_path: str,
    password_change_required: bool,
    via: str,
) -> str:
    """Sign the account in fully: a new session, the throttle's state cleared, this
    browser remembered as one the owner uses; where to go next."""
    request = unit.request
    email_key = guard.email_key(account.email)
    guard.succeeded(email_key, client_address(request))
    start_session(unit, account, pending=False, password_change_required=password_change_required)
    unit.set_cookie(
        KNOWN_BROWSER_COOKIE,
        guard.remember_browser(request.cookies.get(KNOWN_BROWSER_COOKIE), email_key, _today(unit)),
        max_age=KNOWN_BROWSER_DAYS * 86400,
    )
    Accounts(unit.session, unit.web.keyring, unit.web.settings, unit.now).auth_event(
        "accounts.signed_in", account, actor(request), email_key, via=via
    )
    return PASSWORD_CHANGE_PAGE if password_change_required else safe_next(next_path)
