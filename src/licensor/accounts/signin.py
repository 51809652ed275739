"""What the sign-in pages share: the throttle, the known-browser cookie, the session each
step starts, and the pages a throttled attempt gets; and the same throttle for the
settings forms that check the password or the second factor of a signed-in account."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from fastapi.responses import Response

from licensor.accounts.security import (
    BROWSER_COOKIE,
    BROWSER_COOKIE_DAYS,
    browser_id,
    stored_user_agent,
)
from licensor.accounts.throttle import (
    KNOWN_BROWSER_COOKIE,
    KNOWN_BROWSER_DAYS,
    Attempt,
    SignInThrottle,
    SignInThrottled,
)
from licensor.deps import client_address
from licensor.errors import FormInvalid
from licensor.models import Account
from licensor.web import sessions
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


def known_browser(
    unit: PageUnit, guard: SignInThrottle, account: Account | None, email_key: str
) -> bool:
    cookie = unit.request.cookies.get(KNOWN_BROWSER_COOKIE)
    return guard.known_browser(cookie, email_key, guard.binding(account), _today(unit))


def remember_browser(unit: PageUnit, guard: SignInThrottle, account: Account) -> None:
    """Mark this browser as one the owner uses (for the account's current password)."""
    cookie = unit.request.cookies.get(KNOWN_BROWSER_COOKIE)
    value = guard.remember_browser(
        cookie, guard.email_key(account.email), guard.binding(account), _today(unit)
    )
    unit.set_cookie(KNOWN_BROWSER_COOKIE, value, max_age=KNOWN_BROWSER_DAYS * 86400)


def attempt(
    unit: PageUnit,
    guard: SignInThrottle,
    account: Account | None,
    email_key: str,
    *,
    stage: str,
    known_browser_spared: bool = True,
) -> Attempt:
    """Claim an attempt at the account's password or code before it is checked (it counts
    as a failure until it succeeds); raise SignInThrottled, audited as
    ``accounts.sign_in_throttled``, when it must wait: it is then answered without
    checking anything."""
    request = unit.request
    spared = known_browser_spared and known_browser(unit, guard, account, email_key)
    try:
        return guard.attempt(email_key, client_address(request), known_browser=spared)
    except SignInThrottled as throttled:
        unit.authentication.auth_event(
            "accounts.sign_in_throttled",
            account,
            actor(request),
            email_key,
            stage=stage,
            locked=throttled.locked,
            retry_after=throttled.retry_after,
        )
        raise


# What a settings form's FormInvalid says when the password or code given was wrong.
WRONG_SECRET = frozenset({"password_wrong", "second_factor_wrong"})


@contextmanager
def settings_check(unit: PageUnit, form: str, *, checks_second_factor: bool) -> Iterator[None]:
    """Guard a settings form that checks the signed-in account's password (and, when
    ``checks_second_factor``, its code) as sign-in is guarded: a session is no licence to
    guess. The attempt is claimed for the account and the (account, address) pair
    before anything is checked, and no browser is spared: SignInThrottled (audited) when
    it must wait. A FormInvalid naming a wrong password or code leaves it counted and is
    audited as ``accounts.sign_in_failed`` (stage ``settings``); any other FormInvalid
    gives it back; success clears the count when it proved every factor the account has,
    else gives the attempt back."""
    account = unit.account
    guard = throttle(unit.web)
    email_key = guard.email_key(account.email)
    proves_all = checks_second_factor or account.totp_secret_ciphertext is None
    claimed = attempt(unit, guard, account, email_key, stage="settings", known_browser_spared=False)
    try:
        yield
    except FormInvalid as error:
        wrong = sorted(field for field, problem in error.fields.items() if problem in WRONG_SECRET)
        if wrong:
            unit.authentication.sign_in_failed(
                account,
                actor=actor(unit.request),
                email_key=email_key,
                stage="settings",
                form=form,
                fields=wrong,
            )
        else:
            guard.give_back(claimed)
        raise
    if proves_all:
        guard.succeeded(email_key, claimed.address)
    else:
        guard.give_back(claimed)


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


def settings_throttled_message(unit: PageUnit, throttled: SignInThrottled) -> str:
    if throttled.locked:
        return unit._(
            "There have been too many wrong passwords or codes for this account. To go on, "
            "reset your password."
        )
    return unit._(
        "There have been too many wrong passwords or codes for this account. Wait "
        "{seconds} seconds and try again."
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
        user_agent=stored_user_agent(unit.request.headers.get("user-agent")),
        ip_address=client_address(unit.request),
    )
    unit.set_cookie(sessions.cookie_name(web.is_secure(unit.request)), started.token)
    if account.language in LANGUAGES:
        unit.set_cookie("licensor_lang", account.language, max_age=365 * 86400)


def record_sign_in(unit: PageUnit, account: Account) -> None:
    """Note the sign-in for the security page (and mail the owner if this browser is new
    to the account); the browser keeps its id in a long-lived cookie."""
    browser, new = browser_id(unit.request.cookies.get(BROWSER_COOKIE))
    if new:
        unit.set_cookie(BROWSER_COOKIE, browser, max_age=BROWSER_COOKIE_DAYS * 86400)
    unit.account_security.record_sign_in(
        account,
        browser=browser,
        user_agent=stored_user_agent(unit.request.headers.get("user-agent")),
        ip_address=client_address(unit.request),
    )


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
    remember_browser(unit, guard, account)
    record_sign_in(unit, account)
    unit.authentication.auth_event(
        "accounts.signed_in", account, actor(request), email_key, via=via
    )
    return PASSWORD_CHANGE_PAGE if password_change_required else safe_next(next_path)
