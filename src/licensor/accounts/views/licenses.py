"""My Account's Licenses: every code in the account as a card, a code added by hand, a
page per license (the code in full, its key, devices and history), and the owner's own
"Replace this code" behind a page that says what it does and asks for the password (or
the second factor). Rules live in accounts/licenses.py and accounts/license_details.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.accounts import signin
from licensor.accounts.throttle import SignInThrottled
from licensor.accounts.views.leases import lease_section
from licensor.accounts.views.reserves import reserve_section
from licensor.accounts.views.sharing import shared_section
from licensor.errors import (
    CodeBlocked,
    CodeMalformed,
    CodeNotSold,
    CodeUnknown,
    FormInvalid,
    LicenseLinkedElsewhere,
)
from licensor.web.access import CustomerPage
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


def _private(response: Response) -> Response:
    """A page showing a code or key in full is kept by no cache, the browser's included."""
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/account/licenses", response_class=HTMLResponse)
def licenses(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        rows = unit.account_licenses.of_account(unit.account)
        return _private(
            unit.render(
                "account/licenses.html",
                licenses=rows,
                error=None,
                notice=None,
                code="",
                **shared_section(unit),
            )
        )


@router.post("/account/licenses", response_class=HTMLResponse)
def add_code(
    request: Request, web: Pages, page: CustomerPage, activation_code: Field = ""
) -> Response:
    web.limit("link", request.client.host if request.client else "unknown")
    with page.open() as unit:
        licenses = unit.account_licenses
        error = notice = None
        try:
            linked = licenses.link_code(unit.account, activation_code)
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
        rows = licenses.of_account(unit.account)
        return _private(
            unit.render(
                "account/licenses.html",
                status=200 if error is None else 422,
                licenses=rows,
                error=error,
                notice=notice,
                code=activation_code if error else "",
                **shared_section(unit),
            )
        )


@router.get("/account/licenses/{public_id}", response_class=HTMLResponse)
def license_page(request: Request, page: CustomerPage, public_id: str, done: str = "") -> Response:
    with page.open() as unit:
        detail = unit.license_details.of_account(unit.account, public_id)
        notice = (
            unit._(
                "The old code no longer works. This is the new activation code of the "
                "license: your devices keep working, and we have sent you an email."
            )
            if done == "replaced"
            else None
        )
        return _private(
            unit.render(
                "account/license.html",
                license=detail,
                notice=notice,
                **lease_section(unit, public_id, done),
                **reserve_section(unit, public_id, done),
            )
        )


def _replace_page(
    unit: PageUnit, public_id: str, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    detail = unit.license_details.of_account(unit.account, public_id)
    if not detail.replaceable:
        return _private(unit.render("account/license.html", license=detail, notice=None))
    return _confirmation(unit, status, errors, license=detail, code=None)


def _confirmation(
    unit: PageUnit, status: int, errors: dict[str, str] | None, **subject: object
) -> Response:
    """The page that says what replacing does and asks for the proof (``account/replace.html``:
    a license's code, or a code not activated yet)."""
    return _private(
        unit.render(
            "account/replace.html",
            status=status,
            errors=errors or {},
            two_factor=unit.account.totp_secret_ciphertext is not None,
            **subject,
        )
    )


def _replace_after_proof(
    unit: PageUnit,
    web: Pages,
    replace: Callable[[], str],
    form_again: Callable[[int, dict[str, str]], Response],
) -> Response:
    """Replace a code once its owner proved it is them: the password, or the second factor
    when the account has one, checked under sign-in's throttle; an account replaces at
    most ``code_replace_rate`` codes. ``replace`` does it and returns where to go next;
    ``form_again`` shows the confirmation again with a message by the field."""
    account = unit.account
    web.limit("code_replace", f"account:{account.id}")
    field = "second_factor" if account.totp_secret_ciphertext is not None else "password"
    try:
        with signin.settings_check(
            unit, "replace_code", checks_second_factor=field == "second_factor"
        ):
            next_page = replace()
    except SignInThrottled as throttled:
        response = form_again(429, {field: signin.settings_throttled_message(unit, throttled)})
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    except FormInvalid as error:
        return form_again(422, unit.field_messages(error.fields, FIELD_MESSAGES))
    return unit.redirect(next_page)


@router.get("/account/licenses/{public_id}/replace", response_class=HTMLResponse)
def replace_form(request: Request, page: CustomerPage, public_id: str) -> Response:
    with page.open() as unit:
        return _replace_page(unit, public_id)


@router.post("/account/licenses/{public_id}/replace", response_class=HTMLResponse)
def replace_code(
    request: Request,
    web: Pages,
    page: CustomerPage,
    public_id: str,
    password: Field = "",
    second_factor: Field = "",
) -> Response:
    """Replace the license's code (``_replace_after_proof``)."""
    with page.open() as unit:

        def replace() -> str:
            unit.license_details.replace_code(
                unit.account, public_id, password=password, second_factor=second_factor
            )
            return f"/account/licenses/{public_id}?done=replaced"

        return _replace_after_proof(
            unit,
            web,
            replace,
            lambda status, errors: _replace_page(unit, public_id, status, errors),
        )


# A code in the account that has not activated yet: a page of its own, by a handle that is
# neither the code nor its row id (accounts.licenses.code_handle), and the same "Replace
# this code" as a license's.

CODE_PAGE = "/account/licenses/codes/{handle}"


def _code_page(unit: PageUnit, handle: str, notice: str | None = None) -> Response:
    detail = unit.license_details.code_of_account(unit.account, handle)
    if detail.activated_as is not None:
        return unit.redirect(f"/account/licenses/{detail.activated_as}")
    return _private(unit.render("account/code.html", code=detail, notice=notice))


@router.get(CODE_PAGE, response_class=HTMLResponse)
def code_page(request: Request, page: CustomerPage, handle: str, done: str = "") -> Response:
    with page.open() as unit:
        notice = (
            unit._(
                "The old code no longer works. This is your new activation code, and we "
                "have sent you an email."
            )
            if done == "replaced"
            else None
        )
        return _code_page(unit, handle, notice)


def _code_replace_page(
    unit: PageUnit, handle: str, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    detail = unit.license_details.code_of_account(unit.account, handle)
    if detail.activated_as is not None or not detail.replaceable:
        return _code_page(unit, handle)
    return _confirmation(unit, status, errors, license=None, code=detail)


@router.get(CODE_PAGE + "/replace", response_class=HTMLResponse)
def code_replace_form(request: Request, page: CustomerPage, handle: str) -> Response:
    with page.open() as unit:
        return _code_replace_page(unit, handle)


@router.post(CODE_PAGE + "/replace", response_class=HTMLResponse)
def replace_unused_code(
    request: Request,
    web: Pages,
    page: CustomerPage,
    handle: str,
    password: Field = "",
    second_factor: Field = "",
) -> Response:
    """Replace a code that never activated: the same proof, throttle and limit as for a
    license's code (``_replace_after_proof``)."""
    with page.open() as unit:

        def replace() -> str:
            new_handle = unit.license_details.replace_unused_code(
                unit.account, handle, password=password, second_factor=second_factor
            )
            return CODE_PAGE.format(handle=new_handle) + "?done=replaced"

        return _replace_after_proof(
            unit,
            web,
            replace,
            lambda status, errors: _code_replace_page(unit, handle, status, errors),
        )
