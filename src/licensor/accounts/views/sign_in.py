"""Getting in: sign-up and the email's verification, sign-in (the password step; the second
step is views/two_factor.py's), sign-out, and the password reset.

Every form is a plain HTML POST with a CSRF field; errors re-render the form with the
message beside the field. No page needs JavaScript. Nothing on these pages tells whether
an email has an account.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.accounts import signin
from licensor.accounts.service import min_password_length
from licensor.accounts.throttle import SignInThrottled
from licensor.deps import client_address
from licensor.errors import FormInvalid, InvalidCredentials
from licensor.web import sessions
from licensor.web.access import PublicPage
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, safe_next

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


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
                "sign_up.html",
                status=422,
                email=email,
                errors=unit.field_messages(error.fields, FIELD_MESSAGES),
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


# --- sign-in and sign-out ---------------------------------------------------------------


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
        accounts, authentication = unit.accounts, unit.authentication
        form = {"email": email, "next": safe_next(next)}
        try:
            claimed = signin.attempt(
                unit, guard, accounts.by_email(email), email_key, stage="password"
            )
        except SignInThrottled as throttled:
            return signin.throttled_page(unit, throttled, "sign_in.html", **form)
        try:
            account = authentication.authenticate(
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
        weak = authentication.password_is_weak(account, password)
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
            unit.authentication.end_session(token, actor=signin.actor(request))
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
            unit.authentication.request_password_reset(
                email, unit.language, mail=mail, actor=signin.actor(request), email_key=email_key
            )
        except FormInvalid as error:
            return unit.render(
                "reset_request.html",
                status=422,
                email=email,
                errors=unit.field_messages(error.fields, FIELD_MESSAGES),
            )
        return unit.render("check_mail.html", purpose="reset")


@router.get("/reset-password/choose", response_class=HTMLResponse)
def reset_choose_form(request: Request, page: PublicPage, token: str = "") -> Response:
    with page.open() as unit:
        account = unit.authentication.reset_account(token)
        return unit.render(
            "reset_choose.html",
            status=200 if account else 400,
            token=token,
            usable=account is not None,
            errors={},
            min_password_length=min_password_length(account),
        )


@router.post("/reset-password/choose", response_class=HTMLResponse)
def reset_choose(
    request: Request, web: Pages, page: PublicPage, token: Field = "", password: Field = ""
) -> Response:
    with page.open() as unit:
        authentication = unit.authentication
        try:
            account = authentication.reset_password(token, password, actor=signin.actor(request))
        except FormInvalid as error:
            return unit.render(
                "reset_choose.html",
                status=422,
                token=token,
                usable=True,
                errors=unit.field_messages(error.fields, FIELD_MESSAGES),
                min_password_length=min_password_length(authentication.reset_account(token)),
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
