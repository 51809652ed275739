"""My Account's settings: language, password and email (the change confirmed from the new
address), and the page itself, which the two-factor forms (views/two_factor.py) render too.

Every form that checks the password or a code is throttled as sign-in is
(accounts/signin.py's ``settings_check``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from licensor.accounts import signin, totp
from licensor.accounts.service import min_password_length
from licensor.accounts.throttle import SignInThrottled
from licensor.accounts.two_factor import qr_svg
from licensor.errors import FormInvalid
from licensor.web.access import CustomerPage, PublicPage
from licensor.web.i18n import LANGUAGES
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]
T = TypeVar("T")


def render_settings(unit: PageUnit, status: int = 200, **context: object) -> Response:
    """The settings page; it shows a new authenticator secret, so it is never stored."""
    factor = unit.two_factor
    enrolled = factor.secret(unit.account) is not None
    secret = str(context.pop("new_secret", "")) or totp.new_secret()
    uri = totp.provisioning_uri(secret, unit.account.email, unit.web.settings.product_name)
    values: dict[str, object] = {
        "errors": {},
        "notice": None,
        "two_factor_enrolled": enrolled,
        "recovery_codes_left": factor.remaining_recovery_codes(unit.account) if enrolled else 0,
        "new_secret": secret,
        "provisioning_uri": uri,
        "qr_svg": Markup(qr_svg(uri)),
        "min_password_length": min_password_length(unit.account),
        "must_change_password": unit.visitor.must_change_password,
    }
    values.update(context)
    response = unit.render("account/settings.html", status=status, **values)
    response.headers["Cache-Control"] = "no-store"
    return response


def render_settings_throttled(unit: PageUnit, throttled: SignInThrottled, field: str) -> Response:
    """A settings form tried too often: the page again (429), the message by ``field``."""
    message = signin.settings_throttled_message(unit, throttled)
    response = render_settings(unit, 429, errors={field: message})
    response.headers["Retry-After"] = str(throttled.retry_after)
    return response


def settings_form(
    unit: PageUnit,
    form: str,
    action: Callable[[], T],
    *,
    checks_second_factor: bool,
    throttled_field: str,
    done: Callable[[T], Response],
    prefix: str = "",
    again: Mapping[str, object] | None = None,
) -> Response:
    """A settings form that checks the password or a code: ``action`` runs guarded as
    sign-in is (``signin.settings_check``); a try that must wait shows the page again (429)
    with the message beside ``throttled_field``; a refused form shows it again (422) with
    each message beside its field (named with ``prefix``, the page showing ``again``'s
    values); else the answer is ``done`` of what the action returned."""
    try:
        with signin.settings_check(unit, form, checks_second_factor=checks_second_factor):
            result = action()
    except SignInThrottled as throttled:
        return render_settings_throttled(unit, throttled, throttled_field)
    except FormInvalid as error:
        errors = unit.field_messages(error.fields, FIELD_MESSAGES, prefix=prefix)
        return render_settings(unit, 422, errors=errors, **(again or {}))
    return done(result)


@router.get("/account/settings", response_class=HTMLResponse)
def settings_page(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        return render_settings(unit)


@router.post("/account/settings/language", response_class=HTMLResponse)
def set_language(request: Request, page: CustomerPage, language: Field = "en") -> Response:
    with page.open() as unit:
        unit.accounts.set_language(unit.account, language)
        if language in LANGUAGES:
            unit.set_cookie("licensor_lang", language, max_age=365 * 86400)
        return unit.redirect("/account/settings")


@router.post("/account/settings/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    web: Pages,
    page: CustomerPage,
    current_password: Field = "",
    new_password: Field = "",
) -> Response:
    with page.open() as unit:
        keep = unit.visitor.web_session.id if unit.visitor.web_session else None

        def changed(_: None) -> Response:
            # Browsers known before no longer skip the throttle's delay; this one still does.
            signin.remember_browser(unit, signin.throttle(web), unit.account)
            return render_settings(
                unit, notice=unit._("Your password was changed. Other sessions were signed out.")
            )

        return settings_form(
            unit,
            "password",
            lambda: unit.authentication.change_password(
                unit.account, current_password, new_password, keep=keep
            ),
            checks_second_factor=False,
            throttled_field="current_password",
            done=changed,
        )


@router.post("/account/settings/email", response_class=HTMLResponse)
def change_email(
    request: Request,
    page: CustomerPage,
    new_email: Field = "",
    password: Field = "",
    email_code: Field = "",
) -> Response:
    """The new address gets a link; the password, and the second factor where one is
    enrolled, are asked first: the email is where password resets go."""
    with page.open() as unit:
        return settings_form(
            unit,
            "email",
            lambda: unit.accounts.request_email_change(
                unit.account, password, new_email, code=email_code
            ),
            checks_second_factor=unit.account.totp_secret_ciphertext is not None,
            throttled_field="password",
            done=lambda _: render_settings(
                unit,
                notice=unit._(
                    "We have sent a link to the new address. "
                    "The change takes effect when you open it."
                ),
            ),
        )


@router.get("/account/email/confirm", response_class=HTMLResponse)
def confirm_email_form(request: Request, web: Pages, page: PublicPage, token: str = "") -> Response:
    with page.open() as unit:
        return unit.render("confirm_email.html", token=token, done=None)


@router.post("/account/email/confirm", response_class=HTMLResponse)
def confirm_email(request: Request, web: Pages, page: PublicPage, token: Field = "") -> Response:
    with page.open() as unit:
        account = unit.accounts.confirm_email_change(token)
        return unit.render(
            "confirm_email.html",
            status=200 if account else 400,
            token=token,
            done=account is not None,
        )
