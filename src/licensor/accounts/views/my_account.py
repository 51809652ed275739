"""My Account's Licenses and Devices: every code in the account, a code added by hand, a
device removed to free its seats (F8), and a device connected by the short code its app
shows (F10). Subscriptions are the store's (``store/views/subscriptions.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from licensor.deps import RowId
from licensor.errors import (
    CodeBlocked,
    CodeMalformed,
    CodeNotSold,
    CodeUnknown,
    LicenseLinkedElsewhere,
    UserCodeUnknown,
)
from licensor.web.access import CustomerPage
from licensor.web.pages import Pages

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


@router.get("/account")
def account_home() -> Response:
    return RedirectResponse("/account/licenses", status_code=303)


@router.get("/account/licenses", response_class=HTMLResponse)
def licenses(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        rows = unit.account_licenses.of_account(unit.account)
        return unit.render("account/licenses.html", licenses=rows, error=None, notice=None, code="")


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
        rows = unit.account_devices.of_account(unit.account)
        return unit.render("account/devices.html", devices=rows, notice=None)


@router.post("/account/devices/{device_id}/remove", response_class=HTMLResponse)
def remove_device(request: Request, page: CustomerPage, device_id: RowId) -> Response:
    with page.open() as unit:
        devices = unit.account_devices
        released = devices.remove(unit.account, device_id)
        notice = unit._("The device was removed; {count} license seat(s) are free again.").format(
            count=released
        )
        return unit.render(
            "account/devices.html", devices=devices.of_account(unit.account), notice=notice
        )


@router.get("/account/connect", response_class=HTMLResponse)
def connect_form(request: Request, page: CustomerPage, code: str = "") -> Response:
    with page.open() as unit:
        return unit.render("account/connect.html", code=code, error=None, linked=None)


@router.post("/account/connect", response_class=HTMLResponse)
def connect(request: Request, web: Pages, page: CustomerPage, code: Field = "") -> Response:
    web.limit("link", request.client.host if request.client else "unknown")
    with page.open() as unit:
        try:
            linked = unit.connect.approve(unit.account, code)
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
