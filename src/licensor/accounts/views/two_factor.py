"""Two-factor pages: the second step of signing in (a code from the app or a recovery
code), the enrolment every staff account goes through at its first sign-in, and the
settings forms that turn two-factor on, move it to a new app, make new recovery codes
and turn it off. The rules are in accounts/two_factor.py; the settings page itself is
rendered by views/settings.py. Every form that checks the password or a code is
throttled as sign-in is (accounts/signin.py: ``attempt``, ``settings_check``).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from licensor.accounts import signin, totp
from licensor.accounts.throttle import SignInThrottled
from licensor.accounts.two_factor import TwoFactor, qr_svg
from licensor.accounts.views.settings import render_settings, settings_form
from licensor.deps import client_address
from licensor.errors import FormInvalid
from licensor.web import sessions
from licensor.web.access import CustomerPage, PublicPage
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit, safe_next

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


def _factor(unit: PageUnit) -> TwoFactor:
    return unit.two_factor


def _actor(unit: PageUnit) -> str:
    return f"account:{unit.account.id}"


def _stale_pending_session(unit: PageUnit) -> Response | None:
    """A half-signed-in session with nothing left to enrol at sign-in: an account without
    a second factor that is not staff (two-factor was turned off after this session
    proved the password). Only staff enrol here, without the password, at their first
    sign-in; anyone else signs in again, and enrols in settings with password and code.
    The session ends; None when it may go on."""
    account = unit.account
    if account.totp_secret_ciphertext is not None or account.needs_two_factor:
        return None
    token = unit.web.session_token(unit.request)
    if token:
        unit.authentication.end_session(token, actor=signin.actor(unit.request))
    unit.set_cookie(sessions.cookie_name(unit.web.is_secure(unit.request)), "")
    return unit.redirect("/sign-in")


def _recovery_codes_page(unit: PageUnit, codes: list[str], next_path: str) -> Response:
    """The new recovery codes, shown this once: never stored by a browser or proxy."""
    response = unit.render("account/recovery_codes.html", codes=codes, next=next_path)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the second step of signing in --------------------------------------------------------


@router.get("/sign-in/two-factor", response_class=HTMLResponse)
def two_factor_form(request: Request, page: PublicPage, next: str = "") -> Response:
    with page.open() as unit:
        if not unit.visitor.half_signed_in:
            return unit.redirect("/sign-in")
        if stale := _stale_pending_session(unit):
            return stale
        if unit.account.totp_secret_ciphertext is None:
            return unit.redirect(f"/sign-in/two-factor/enrol?next={quote(safe_next(next))}")
        return unit.render("two_factor.html", error=None, next=safe_next(next))


@router.post("/sign-in/two-factor", response_class=HTMLResponse)
def two_factor(
    request: Request, web: Pages, page: PublicPage, code: Field = "", next: Field = ""
) -> Response:
    """The code from the app, or a recovery code (each once). Failures count for the
    account as wrong passwords do, so the step cannot be used to guess codes."""
    address = client_address(request)
    web.limit("signin", address)
    guard = signin.throttle(web)
    with page.open() as unit:
        web_session = unit.visitor.web_session
        if web_session is None or not unit.visitor.half_signed_in:
            return unit.redirect("/sign-in")
        if stale := _stale_pending_session(unit):
            return stale
        account = unit.account
        if account.totp_secret_ciphertext is None:
            return unit.redirect(f"/sign-in/two-factor/enrol?next={quote(safe_next(next))}")
        email_key = guard.email_key(account.email)
        try:
            signin.attempt(unit, guard, account, email_key, stage="second_factor")
        except SignInThrottled as throttled:
            return signin.throttled_page(unit, throttled, "two_factor.html", next=safe_next(next))
        if not _factor(unit).verify(account, code, actor=signin.actor(request)):
            # The attempt stays counted: a failure.
            unit.authentication.sign_in_failed(
                account, actor=signin.actor(request), email_key=email_key, stage="second_factor"
            )
            return unit.render(
                "two_factor.html",
                status=401,
                next=safe_next(next),
                error=unit._(FIELD_MESSAGES["second_factor_wrong"]),
            )
        # Rotate again: the half-signed-in token must not become a full session.
        target = signin.finish(
            unit,
            account,
            guard,
            next_path=next,
            password_change_required=web_session.password_change_required,
            via="second_factor",
        )
        return unit.redirect(target)


@router.get("/sign-in/two-factor/enrol", response_class=HTMLResponse)
def first_enrolment_form(request: Request, page: PublicPage, next: str = "") -> Response:
    """A staff account's first sign-in: two-factor is set up before anything else opens."""
    with page.open() as unit:
        if not unit.visitor.half_signed_in:
            return unit.redirect("/sign-in")
        if stale := _stale_pending_session(unit):
            return stale
        if unit.account.totp_secret_ciphertext is not None:
            return unit.redirect(f"/sign-in/two-factor?next={quote(safe_next(next))}")
        return _enrolment_page(unit, totp.new_secret(), next_path=safe_next(next))


def _enrolment_page(
    unit: PageUnit,
    secret: str,
    *,
    next_path: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    uri = totp.provisioning_uri(secret, unit.account.email, unit.web.settings.product_name)
    response = unit.render(
        "two_factor_enrol.html",
        status=status,
        secret=secret,
        qr_svg=Markup(qr_svg(uri)),
        provisioning_uri=uri,
        next=next_path,
        errors=errors or {},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/sign-in/two-factor/enrol", response_class=HTMLResponse)
def first_enrolment(
    request: Request,
    web: Pages,
    page: PublicPage,
    secret: Field = "",
    code: Field = "",
    next: Field = "",
) -> Response:
    web.limit("signin", client_address(request))
    with page.open() as unit:
        web_session = unit.visitor.web_session
        if web_session is None or not unit.visitor.half_signed_in:
            return unit.redirect("/sign-in")
        if stale := _stale_pending_session(unit):
            return stale
        account = unit.account
        if account.totp_secret_ciphertext is not None:
            return unit.redirect(f"/sign-in/two-factor?next={quote(safe_next(next))}")
        try:
            # Staff only (above): the password was proven a moment ago on this same
            # half-signed-in session.
            codes = _factor(unit).enrol(
                account, secret, code, password=None, actor=f"account:{account.id}"
            )
        except FormInvalid as error:
            return _enrolment_page(
                unit,
                secret,
                next_path=safe_next(next),
                status=422,
                errors=unit.field_messages(error.fields, FIELD_MESSAGES),
            )
        target = signin.finish(
            unit,
            account,
            signin.throttle(web),
            next_path=next,
            password_change_required=web_session.password_change_required,
            via="first_enrolment",
        )
        return _recovery_codes_page(unit, codes, target)


# --- settings -------------------------------------------------------------------------------


@router.post("/account/settings/two-factor", response_class=HTMLResponse)
def enrol_two_factor(
    request: Request,
    page: CustomerPage,
    secret: Field = "",
    enrol_password: Field = "",
    enrol_current_code: Field = "",
    enrol_code: Field = "",
) -> Response:
    """Turn two-factor on, or move it to a new app: the password, and the current code
    (or a recovery code) when one is enrolled, then a code from the new app."""
    with page.open() as unit:
        return settings_form(
            unit,
            "two_factor_enrol",
            lambda: _factor(unit).enrol(
                unit.account,
                secret,
                enrol_code,
                password=enrol_password,
                current_code=enrol_current_code,
                actor=_actor(unit),
            ),
            checks_second_factor=unit.account.totp_secret_ciphertext is not None,
            throttled_field="enrol_password",
            prefix="enrol_",
            again={"new_secret": secret},
            done=lambda codes: _recovery_codes_page(unit, codes, "/account/settings#two-factor"),
        )


@router.post("/account/settings/two-factor/recovery-codes", response_class=HTMLResponse)
def new_recovery_codes(
    request: Request,
    page: CustomerPage,
    codes_password: Field = "",
    codes_code: Field = "",
) -> Response:
    with page.open() as unit:
        return settings_form(
            unit,
            "recovery_codes",
            lambda: _factor(unit).regenerate_recovery_codes(
                unit.account, codes_password, codes_code, actor=_actor(unit)
            ),
            checks_second_factor=True,
            throttled_field="codes_password",
            prefix="codes_",
            done=lambda codes: _recovery_codes_page(unit, codes, "/account/settings#two-factor"),
        )


@router.post("/account/settings/two-factor/disable", response_class=HTMLResponse)
def disable_two_factor(
    request: Request,
    page: CustomerPage,
    disable_password: Field = "",
    disable_code: Field = "",
) -> Response:
    with page.open() as unit:
        return settings_form(
            unit,
            "two_factor_disable",
            lambda: _factor(unit).disable(
                unit.account, disable_password, disable_code, actor=_actor(unit)
            ),
            checks_second_factor=True,
            throttled_field="disable_password",
            prefix="disable_",
            done=lambda _: render_settings(unit, notice=unit._("Two-factor sign-in is off.")),
        )
