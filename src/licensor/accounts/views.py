"""My Account pages: sign-up, sign-in, resets, Licenses, Devices, connect, settings.

Every form is a plain HTML POST with a CSRF field; errors re-render the form with the
message beside the field. No page needs JavaScript.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from licensor.accounts import passwords, signin, totp
from licensor.accounts.portal import UserCodeUnknown
from licensor.accounts.service import has_second_factor
from licensor.accounts.throttle import SignInThrottled
from licensor.accounts.two_factor import qr_svg
from licensor.deps import RowId, client_address
from licensor.errors import (
    CodeBlocked,
    CodeMalformed,
    CodeNotSold,
    CodeUnknown,
    FormInvalid,
    InvalidCredentials,
    LicenseLinkedElsewhere,
)
from licensor.models import Account
from licensor.web import sessions
from licensor.web.access import CustomerPage, PublicPage
from licensor.web.i18n import LANGUAGES
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit, safe_next

router = APIRouter(include_in_schema=False)

MESSAGES = FIELD_MESSAGES

Field = Annotated[str, Form()]


def _messages(unit: PageUnit, fields: dict[str, str]) -> dict[str, str]:
    return unit.field_messages(fields, MESSAGES)


# --- home ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        return unit.render("home.html")


# --- sign-up and verification -----------------------------------------------------------


@router.get("/sign-up", response_class=HTMLResponse)
def sign_up_form(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        return unit.render("sign_up.html", errors={}, email="")


@router.post("/sign-up", response_class=HTMLResponse)
def sign_up(
    request: Request, web: Pages, page: PublicPage, email: Field = "", password: Field = ""
) -> Response:
    web.limit("signup", request.client.host if request.client else "unknown")
    with page.open() as unit:
        try:
            unit.accounts.sign_up(email, password, unit.language)
        except FormInvalid as error:
            return unit.render(
                "sign_up.html", status=422, email=email, errors=_messages(unit, error.fields)
            )
        return unit.render("check_mail.html", purpose="sign_up")


@router.get("/verify-email", response_class=HTMLResponse)
def verify_email_form(request: Request, page: PublicPage, token: str = "") -> Response:
    # A button, not the GET itself: mail scanners follow links.
    with page.open() as unit:
        return unit.render("verify_email.html", token=token)


@router.post("/verify-email", response_class=HTMLResponse)
def verify_email(request: Request, page: PublicPage, token: Field = "") -> Response:
    with page.open() as unit:
        account = unit.accounts.verify_email(token)
        return unit.render("verified.html", status=200 if account else 400, ok=account is not None)


# --- sign-in, two-factor, sign-out ------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, page: PublicPage, next: str = "") -> Response:
    with page.open() as unit:
        return unit.render("sign_in.html", error=None, email="", next=safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    web: Pages,
    page: PublicPage,
    email: Field = "",
    password: Field = "",
    next: Field = "",
) -> Response:
    """The password step. Throttled per (email, address) pair and per email (see
    accounts/throttle.py), never per email alone, so nobody can lock the owner out."""
    address = client_address(request)
    web.limit("signin", address)
    guard = signin.throttle(web)
    email_key = guard.email_key(email)
    with page.open() as unit:
        accounts = unit.accounts
        form = {"email": email, "next": safe_next(next)}
        try:
            claimed = signin.attempt(
                unit, guard, accounts.by_email(email), email_key, stage="password"
            )
        except SignInThrottled as throttled:
            return signin.throttled_page(unit, throttled, "sign_in.html", **form)
        try:
            account = accounts.authenticate(
                email, password, actor=signin.actor(request), email_key=email_key
            )
        except InvalidCredentials:
            return unit.render(
                "sign_in.html",
                status=401,
                error=unit._("The email or password is not correct."),
                **form,
            )
        if account.email_verified_at is None:
            guard.give_back(claimed)
            accounts.send_verification(account)
            return unit.render(
                "sign_in.html",
                status=403,
                error=unit._("Confirm your email address first: we have sent you the link again."),
                **form,
            )
        weak = accounts.password_is_weak(account, password)
        if account.totp_secret_ciphertext is not None or account.needs_two_factor:
            # Half signed in: the second factor (or, for new staff, its enrolment) is next.
            # The throttle's count stays until then (the password alone proves too
            # little), but this right password is no failure.
            guard.give_back(claimed)
            signin.start_session(unit, account, pending=True, password_change_required=weak)
            return unit.redirect(f"/sign-in/two-factor?next={quote(safe_next(next))}")
        target = signin.finish(
            unit, account, guard, next_path=next, password_change_required=weak, via="password"
        )
        return unit.redirect(target)


@router.post("/sign-out")
def sign_out(request: Request, web: Pages, page: PublicPage) -> Response:
    with page.open() as unit:
        token = web.session_token(request)
        if token:
            unit.accounts.end_session(token, actor=signin.actor(request))
        unit.set_cookie(sessions.cookie_name(web.is_secure(request)), "")
        return unit.redirect("/")


# --- password reset ---------------------------------------------------------------------


@router.get("/reset-password", response_class=HTMLResponse)
def reset_form(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        return unit.render("reset_request.html", errors={}, email="")


@router.post("/reset-password", response_class=HTMLResponse)
def reset_request(request: Request, web: Pages, page: PublicPage, email: Field = "") -> Response:
    """Per address the sign-up limit; per email at most ``reset_rate`` mails: further
    requests get the same page and send nothing (the links already sent keep working)."""
    address = client_address(request)
    web.limit("signup", address)
    email_key = signin.throttle(web).email_key(email)
    mail = web.limiter.hit(web.rules["reset"], "email:" + email_key) is None
    with page.open() as unit:
        try:
            unit.accounts.request_password_reset(
                email, unit.language, mail=mail, actor=signin.actor(request), email_key=email_key
            )
        except FormInvalid as error:
            return unit.render(
                "reset_request.html", status=422, email=email, errors=_messages(unit, error.fields)
            )
        return unit.render("check_mail.html", purpose="reset")


def _min_password_length(account: Account | None) -> int:
    second_factor = account is not None and has_second_factor(account)
    return passwords.MIN_LENGTH_WITH_SECOND_FACTOR if second_factor else passwords.MIN_LENGTH


@router.get("/reset-password/choose", response_class=HTMLResponse)
def reset_choose_form(request: Request, page: PublicPage, token: str = "") -> Response:
    with page.open() as unit:
        account = unit.accounts.reset_account(token)
        return unit.render(
            "reset_choose.html",
            status=200 if account else 400,
            token=token,
            usable=account is not None,
            errors={},
            min_password_length=_min_password_length(account),
        )


@router.post("/reset-password/choose", response_class=HTMLResponse)
def reset_choose(
    request: Request, web: Pages, page: PublicPage, token: Field = "", password: Field = ""
) -> Response:
    with page.open() as unit:
        accounts = unit.accounts
        try:
            account = accounts.reset_password(token, password, actor=signin.actor(request))
        except FormInvalid as error:
            return unit.render(
                "reset_choose.html",
                status=422,
                token=token,
                usable=True,
                errors=_messages(unit, error.fields),
                min_password_length=_min_password_length(accounts.reset_account(token)),
            )
        if account is None:
            return unit.render(
                "reset_choose.html", status=400, token=token, usable=False, errors={}
            )
        # The owner is back in: whatever throttled sign-in to the account is over.
        guard = signin.throttle(web)
        guard.reset(guard.email_key(account.email))
        unit.set_cookie(sessions.cookie_name(web.is_secure(request)), "")
        return unit.render("reset_done.html")


# --- My Account -------------------------------------------------------------------------


@router.get("/account")
def account_home() -> Response:
    return RedirectResponse("/account/licenses", status_code=303)


@router.get("/account/licenses", response_class=HTMLResponse)
def licenses(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        rows = unit.portal.licenses(unit.account)
        return unit.render("account/licenses.html", licenses=rows, error=None, notice=None, code="")


@router.post("/account/licenses", response_class=HTMLResponse)
def add_code(
    request: Request, web: Pages, page: CustomerPage, activation_code: Field = ""
) -> Response:
    web.limit("link", request.client.host if request.client else "unknown")
    with page.open() as unit:
        accounts = unit.accounts
        portal = unit.portal
        error = notice = None
        try:
            linked = accounts.link_code(unit.account, activation_code)
            notice = (
                unit._("This code is already in your account.")
                if linked.already_linked
                else unit._("The code was added to your account.")
            )
        except CodeMalformed:
            error = unit._("This is not a valid activation code; check it for typing mistakes.")
        except (CodeUnknown, CodeBlocked):
            error = unit._("This activation code cannot be added. Check it, or contact support.")
        except CodeNotSold:
            error = unit._(
                "This activation code has not been sold yet, so it cannot be added or "
                "activated. The shop that sold it must register the sale first: ask it to."
            )
        except LicenseLinkedElsewhere:
            error = unit._(
                "This code belongs to another account and was not moved. If it is "
                "yours, contact support."
            )
        rows = portal.licenses(unit.account)
        return unit.render(
            "account/licenses.html",
            status=200 if error is None else 422,
            licenses=rows,
            error=error,
            notice=notice,
            code=activation_code if error else "",
        )


@router.get("/account/devices", response_class=HTMLResponse)
def devices(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        rows = unit.portal.devices(unit.account)
        return unit.render("account/devices.html", devices=rows, notice=None)


@router.post("/account/devices/{device_id}/remove", response_class=HTMLResponse)
def remove_device(request: Request, page: CustomerPage, device_id: RowId) -> Response:
    with page.open() as unit:
        portal = unit.portal
        released = portal.remove_device(unit.account, device_id)
        notice = unit._("The device was removed; {count} license seat(s) are free again.").format(
            count=released
        )
        return unit.render(
            "account/devices.html", devices=portal.devices(unit.account), notice=notice
        )


@router.get("/account/subscriptions", response_class=HTMLResponse)
def subscriptions(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        listed = unit.subscriptions
        return unit.render(
            "account/subscriptions.html",
            subscriptions=listed.of_account(unit.account),
            notice=None,
        )


@router.post("/account/subscriptions/{subscription_id}/cancel", response_class=HTMLResponse)
def cancel_subscription(request: Request, page: CustomerPage, subscription_id: RowId) -> Response:
    with page.open() as unit:
        service = unit.subscriptions
        canceled = service.cancel(unit.account, subscription_id)
        notice = unit._("Renewal is off. The license stays valid until {date}.").format(
            date=canceled.current_period_end.strftime("%Y-%m-%d")
        )
        return unit.render(
            "account/subscriptions.html",
            subscriptions=service.of_account(unit.account),
            notice=notice,
        )


@router.post("/account/subscriptions/{subscription_id}/download")
def download_app(
    request: Request, web: Pages, page: CustomerPage, subscription_id: RowId
) -> Response:
    """The app's enrollment file: a one-time token the app redeems on first start (F1)."""
    with page.open() as unit:
        token = unit.subscriptions.enrollment_token(unit.account, subscription_id)
    enrollment = {
        "format": "licensor-enrollment/1",
        "server": web.settings.url("/").rstrip("/"),
        "token": token,
        "public_keys": web.keyring.public_keys_b64(),
    }
    return Response(
        json.dumps(enrollment, indent=2) + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="licensor-enrollment.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/account/connect", response_class=HTMLResponse)
def connect_form(request: Request, page: CustomerPage, code: str = "") -> Response:
    with page.open() as unit:
        return unit.render("account/connect.html", code=code, error=None, linked=None)


@router.post("/account/connect", response_class=HTMLResponse)
def connect(request: Request, web: Pages, page: CustomerPage, code: Field = "") -> Response:
    web.limit("link", request.client.host if request.client else "unknown")
    with page.open() as unit:
        portal = unit.portal
        try:
            linked = portal.approve_device(unit.account, code)
        except UserCodeUnknown:
            return unit.render(
                "account/connect.html",
                status=422,
                code=code,
                linked=None,
                error=unit._(
                    "This code is not valid, or has expired. Check the code your app shows."
                ),
            )
        return unit.render("account/connect.html", code="", error=None, linked=linked)


# --- settings ---------------------------------------------------------------------------


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
        "min_password_length": _min_password_length(unit.account),
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
        try:
            with signin.settings_check(unit, "password", checks_second_factor=False):
                unit.accounts.change_password(
                    unit.account, current_password, new_password, keep=keep
                )
        except SignInThrottled as throttled:
            return render_settings_throttled(unit, throttled, "current_password")
        except FormInvalid as error:
            return render_settings(unit, 422, errors=_messages(unit, error.fields))
        # Browsers known before no longer skip the throttle's delay; this one still does.
        signin.remember_browser(unit, signin.throttle(web), unit.account)
        return render_settings(
            unit, notice=unit._("Your password was changed. Other sessions were signed out.")
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
        enrolled = unit.account.totp_secret_ciphertext is not None
        try:
            with signin.settings_check(unit, "email", checks_second_factor=enrolled):
                unit.accounts.request_email_change(
                    unit.account, password, new_email, code=email_code
                )
        except SignInThrottled as throttled:
            return render_settings_throttled(unit, throttled, "password")
        except FormInvalid as error:
            return render_settings(unit, 422, errors=_messages(unit, error.fields))
        return render_settings(
            unit,
            notice=unit._(
                "We have sent a link to the new address. The change takes effect when you open it."
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
