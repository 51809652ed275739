"""My Account pages: sign-up, sign-in, resets, Licenses, Devices, connect, settings.

Every form is a plain HTML POST with a CSRF field; errors re-render the form with the
message beside the field. No page needs JavaScript.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from licensor.accounts import sessions, totp
from licensor.accounts.portal import Portal, UserCodeUnknown
from licensor.accounts.service import Accounts, normalize_email
from licensor.errors import (
    CodeBlocked,
    CodeMalformed,
    CodeUnknown,
    FormInvalid,
    InvalidCredentials,
    LicenseLinkedElsewhere,
)
from licensor.store.subscriptions import Subscriptions
from licensor.web.i18n import LANGUAGES
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import SIGNED_IN, Pages, PageUnit, safe_next

router = APIRouter(include_in_schema=False)

MESSAGES = FIELD_MESSAGES

Field = Annotated[str, Form()]


def _messages(unit: PageUnit, fields: dict[str, str]) -> dict[str, str]:
    return unit.field_messages(fields, MESSAGES)


def _email_key(email: str) -> str:
    return "email:" + hashlib.sha256(normalize_email(email).encode()).hexdigest()


# --- home ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, web: Pages) -> Response:
    with web.unit(request) as unit:
        return unit.render("home.html")


# --- sign-up and verification -----------------------------------------------------------


@router.get("/sign-up", response_class=HTMLResponse)
def sign_up_form(request: Request, web: Pages) -> Response:
    with web.unit(request) as unit:
        return unit.render("sign_up.html", errors={}, email="")


@router.post("/sign-up", response_class=HTMLResponse)
def sign_up(request: Request, web: Pages, email: Field = "", password: Field = "") -> Response:
    web.limit("signup", request.client.host if request.client else "unknown")
    with web.unit(request, check_csrf=True) as unit:
        try:
            Accounts(unit.session, web.keyring, web.settings, unit.now).sign_up(
                email, password, unit.language
            )
        except FormInvalid as error:
            return unit.render(
                "sign_up.html", status=422, email=email, errors=_messages(unit, error.fields)
            )
        return unit.render("check_mail.html", purpose="sign_up")


@router.get("/verify-email", response_class=HTMLResponse)
def verify_email_form(request: Request, web: Pages, token: str = "") -> Response:
    # A button, not the GET itself: mail scanners follow links.
    with web.unit(request) as unit:
        return unit.render("verify_email.html", token=token)


@router.post("/verify-email", response_class=HTMLResponse)
def verify_email(request: Request, web: Pages, token: Field = "") -> Response:
    with web.unit(request, check_csrf=True) as unit:
        account = Accounts(unit.session, web.keyring, web.settings, unit.now).verify_email(token)
        return unit.render("verified.html", status=200 if account else 400, ok=account is not None)


# --- sign-in, two-factor, sign-out ------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, web: Pages, next: str = "") -> Response:
    with web.unit(request) as unit:
        return unit.render("sign_in.html", error=None, email="", next=safe_next(next))


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request, web: Pages, email: Field = "", password: Field = "", next: Field = ""
) -> Response:
    web.limit("signin", request.client.host if request.client else "unknown")
    web.limit("signin", _email_key(email))
    with web.unit(request, check_csrf=True) as unit:
        accounts = Accounts(unit.session, web.keyring, web.settings, unit.now)
        try:
            account = accounts.authenticate(email, password)
        except InvalidCredentials:
            return unit.render(
                "sign_in.html",
                status=401,
                email=email,
                next=safe_next(next),
                error=unit._("The email or password is not correct."),
            )
        if account.email_verified_at is None:
            accounts.send_verification(account)
            return unit.render(
                "sign_in.html",
                status=403,
                email=email,
                next=safe_next(next),
                error=unit._("Confirm your email address first: we have sent you the link again."),
            )
        pending = account.totp_secret_ciphertext is not None
        started = sessions.start(
            unit.session,
            web.settings,
            account,
            unit.now,
            second_factor_pending=pending,
            replacing=web.session_token(request),
        )
        unit.set_cookie(sessions.cookie_name(web.is_secure(request)), started.token)
        if account.language in LANGUAGES:
            unit.set_cookie("licensor_lang", account.language, max_age=365 * 86400)
        if pending:
            return unit.redirect(f"/sign-in/two-factor?next={quote(safe_next(next))}")
        return unit.redirect(safe_next(next))


@router.get("/sign-in/two-factor", response_class=HTMLResponse)
def two_factor_form(request: Request, web: Pages, next: str = "") -> Response:
    with web.unit(request) as unit:
        if unit.visitor.web_session is None:
            return unit.redirect("/sign-in")
        return unit.render("two_factor.html", error=None, next=safe_next(next))


@router.post("/sign-in/two-factor", response_class=HTMLResponse)
def two_factor(request: Request, web: Pages, code: Field = "", next: Field = "") -> Response:
    web.limit("signin", request.client.host if request.client else "unknown")
    with web.unit(request, check_csrf=True) as unit:
        web_session = unit.visitor.web_session
        if web_session is None or unit.visitor.account is None:
            return unit.redirect("/sign-in")
        accounts = Accounts(unit.session, web.keyring, web.settings, unit.now)
        if not accounts.check_second_factor(unit.visitor.account, code):
            return unit.render(
                "two_factor.html",
                status=401,
                next=safe_next(next),
                error=unit._(MESSAGES["code_wrong"]),
            )
        # Rotate again: the half-signed-in token must not become a full session.
        started = sessions.start(
            unit.session,
            web.settings,
            unit.visitor.account,
            unit.now,
            second_factor_pending=False,
            replacing=web.session_token(request),
        )
        unit.set_cookie(sessions.cookie_name(web.is_secure(request)), started.token)
        return unit.redirect(safe_next(next))


@router.post("/sign-out")
def sign_out(request: Request, web: Pages) -> Response:
    with web.unit(request, check_csrf=True) as unit:
        token = web.session_token(request)
        if token:
            sessions.end(unit.session, token, unit.now)
        unit.set_cookie(sessions.cookie_name(web.is_secure(request)), "")
        return unit.redirect("/")


# --- password reset ---------------------------------------------------------------------


@router.get("/reset-password", response_class=HTMLResponse)
def reset_form(request: Request, web: Pages) -> Response:
    with web.unit(request) as unit:
        return unit.render("reset_request.html", errors={}, email="")


@router.post("/reset-password", response_class=HTMLResponse)
def reset_request(request: Request, web: Pages, email: Field = "") -> Response:
    web.limit("signup", request.client.host if request.client else "unknown")
    web.limit("reset", _email_key(email))
    with web.unit(request, check_csrf=True) as unit:
        try:
            Accounts(unit.session, web.keyring, web.settings, unit.now).request_password_reset(
                email, unit.language
            )
        except FormInvalid as error:
            return unit.render(
                "reset_request.html", status=422, email=email, errors=_messages(unit, error.fields)
            )
        return unit.render("check_mail.html", purpose="reset")


@router.get("/reset-password/choose", response_class=HTMLResponse)
def reset_choose_form(request: Request, web: Pages, token: str = "") -> Response:
    with web.unit(request) as unit:
        usable = Accounts(unit.session, web.keyring, web.settings, unit.now).token_is_usable(
            token, "reset_password"
        )
        return unit.render(
            "reset_choose.html",
            status=200 if usable else 400,
            token=token,
            usable=usable,
            errors={},
        )


@router.post("/reset-password/choose", response_class=HTMLResponse)
def reset_choose(request: Request, web: Pages, token: Field = "", password: Field = "") -> Response:
    with web.unit(request, check_csrf=True) as unit:
        try:
            account = Accounts(unit.session, web.keyring, web.settings, unit.now).reset_password(
                token, password
            )
        except FormInvalid as error:
            return unit.render(
                "reset_choose.html",
                status=422,
                token=token,
                usable=True,
                errors=_messages(unit, error.fields),
            )
        if account is None:
            return unit.render(
                "reset_choose.html", status=400, token=token, usable=False, errors={}
            )
        unit.set_cookie(sessions.cookie_name(web.is_secure(request)), "")
        return unit.render("reset_done.html")


# --- My Account -------------------------------------------------------------------------


@router.get("/account")
def account_home() -> Response:
    return RedirectResponse("/account/licenses", status_code=303)


@router.get("/account/licenses", response_class=HTMLResponse)
def licenses(request: Request, web: Pages) -> Response:
    with web.unit(request, require=SIGNED_IN) as unit:
        rows = Portal(unit.session, web.keyring, web.settings, unit.now).licenses(unit.account)
        return unit.render("account/licenses.html", licenses=rows, error=None, notice=None, code="")


@router.post("/account/licenses", response_class=HTMLResponse)
def add_code(request: Request, web: Pages, activation_code: Field = "") -> Response:
    web.limit("link", request.client.host if request.client else "unknown")
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        accounts = Accounts(unit.session, web.keyring, web.settings, unit.now)
        portal = Portal(unit.session, web.keyring, web.settings, unit.now)
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
def devices(request: Request, web: Pages) -> Response:
    with web.unit(request, require=SIGNED_IN) as unit:
        rows = Portal(unit.session, web.keyring, web.settings, unit.now).devices(unit.account)
        return unit.render("account/devices.html", devices=rows, notice=None)


@router.post("/account/devices/{device_id}/remove", response_class=HTMLResponse)
def remove_device(request: Request, web: Pages, device_id: int) -> Response:
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        portal = Portal(unit.session, web.keyring, web.settings, unit.now)
        released = portal.remove_device(unit.account, device_id)
        notice = unit._("The device was removed; {count} license seat(s) are free again.").format(
            count=released
        )
        return unit.render(
            "account/devices.html", devices=portal.devices(unit.account), notice=notice
        )


@router.get("/account/subscriptions", response_class=HTMLResponse)
def subscriptions(request: Request, web: Pages) -> Response:
    with web.unit(request, require=SIGNED_IN) as unit:
        listed = Subscriptions(unit.session, web.keyring, web.settings, unit.now)
        return unit.render(
            "account/subscriptions.html",
            subscriptions=listed.of_account(unit.account),
            notice=None,
        )


@router.post("/account/subscriptions/{subscription_id}/cancel", response_class=HTMLResponse)
def cancel_subscription(request: Request, web: Pages, subscription_id: int) -> Response:
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        service = Subscriptions(unit.session, web.keyring, web.settings, unit.now)
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
def download_app(request: Request, web: Pages, subscription_id: int) -> Response:
    """The app's enrollment file: a one-time token the app redeems on first start (F1)."""
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        token = Subscriptions(unit.session, web.keyring, web.settings, unit.now).enrollment_token(
            unit.account, subscription_id
        )
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
def connect_form(request: Request, web: Pages, code: str = "") -> Response:
    with web.unit(request, require=SIGNED_IN) as unit:
        return unit.render("account/connect.html", code=code, error=None, linked=None)


@router.post("/account/connect", response_class=HTMLResponse)
def connect(request: Request, web: Pages, code: Field = "") -> Response:
    web.limit("link", request.client.host if request.client else "unknown")
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        portal = Portal(unit.session, web.keyring, web.settings, unit.now)
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


def _settings_page(unit: PageUnit, status: int = 200, **context: object) -> Response:
    accounts = Accounts(unit.session, unit.web.keyring, unit.web.settings, unit.now)
    enrolled = accounts.totp_secret(unit.account) is not None
    secret = str(context.pop("new_secret", "")) or totp.new_secret()
    values: dict[str, object] = {
        "errors": {},
        "notice": None,
        "two_factor_enrolled": enrolled,
        "new_secret": secret,
        "provisioning_uri": totp.provisioning_uri(
            secret, unit.account.email, unit.web.settings.product_name
        ),
    }
    values.update(context)
    return unit.render("account/settings.html", status=status, **values)


@router.get("/account/settings", response_class=HTMLResponse)
def settings_page(request: Request, web: Pages) -> Response:
    with web.unit(request, require=SIGNED_IN) as unit:
        return _settings_page(unit)


@router.post("/account/settings/language", response_class=HTMLResponse)
def set_language(request: Request, web: Pages, language: Field = "en") -> Response:
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        Accounts(unit.session, web.keyring, web.settings, unit.now).set_language(
            unit.account, language
        )
        if language in LANGUAGES:
            unit.set_cookie("licensor_lang", language, max_age=365 * 86400)
        return unit.redirect("/account/settings")


@router.post("/account/settings/password", response_class=HTMLResponse)
def change_password(
    request: Request, web: Pages, current_password: Field = "", new_password: Field = ""
) -> Response:
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        keep = unit.visitor.web_session.id if unit.visitor.web_session else None
        try:
            Accounts(unit.session, web.keyring, web.settings, unit.now).change_password(
                unit.account, current_password, new_password, keep=keep
            )
        except FormInvalid as error:
            return _settings_page(unit, 422, errors=_messages(unit, error.fields))
        return _settings_page(
            unit, notice=unit._("Your password was changed. Other sessions were signed out.")
        )


@router.post("/account/settings/email", response_class=HTMLResponse)
def change_email(
    request: Request, web: Pages, new_email: Field = "", password: Field = ""
) -> Response:
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        try:
            Accounts(unit.session, web.keyring, web.settings, unit.now).request_email_change(
                unit.account, password, new_email
            )
        except FormInvalid as error:
            return _settings_page(unit, 422, errors=_messages(unit, error.fields))
        return _settings_page(
            unit,
            notice=unit._(
                "We have sent a link to the new address. The change takes effect when you open it."
            ),
        )


@router.get("/account/email/confirm", response_class=HTMLResponse)
def confirm_email_form(request: Request, web: Pages, token: str = "") -> Response:
    with web.unit(request) as unit:
        return unit.render("confirm_email.html", token=token, done=None)


@router.post("/account/email/confirm", response_class=HTMLResponse)
def confirm_email(request: Request, web: Pages, token: Field = "") -> Response:
    with web.unit(request, check_csrf=True) as unit:
        account = Accounts(unit.session, web.keyring, web.settings, unit.now).confirm_email_change(
            token
        )
        return unit.render(
            "confirm_email.html",
            status=200 if account else 400,
            token=token,
            done=account is not None,
        )


@router.post("/account/settings/two-factor", response_class=HTMLResponse)
def enroll_two_factor(
    request: Request, web: Pages, secret: Field = "", code: Field = ""
) -> Response:
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        accounts = Accounts(unit.session, web.keyring, web.settings, unit.now)
        try:
            ok = accounts.enroll_totp(unit.account, secret, code)
        except ValueError:
            ok = False
        if not ok:
            return _settings_page(
                unit, 422, new_secret=secret, errors={"code": unit._(MESSAGES["code_wrong"])}
            )
        return _settings_page(unit, notice=unit._("Two-factor sign-in is on."))


@router.post("/account/settings/two-factor/disable", response_class=HTMLResponse)
def disable_two_factor(request: Request, web: Pages, password: Field = "") -> Response:
    with web.unit(request, require=SIGNED_IN, check_csrf=True) as unit:
        try:
            Accounts(unit.session, web.keyring, web.settings, unit.now).disable_totp(
                unit.account, password
            )
        except FormInvalid as error:
            return _settings_page(unit, 422, errors=_messages(unit, error.fields))
        return _settings_page(unit, notice=unit._("Two-factor sign-in is off."))
