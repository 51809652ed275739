"""My Account's front door, and a device connected by the short code its app shows (F10).
Licenses are views/licenses.py's, devices views/devices.py's; subscriptions are the
store's (``store/views/subscriptions.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from licensor.errors import UserCodeUnknown
from licensor.web.access import CustomerPage
from licensor.web.pages import Pages

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


@router.get("/account")
def account_home() -> Response:
    return RedirectResponse("/account/licenses", status_code=303)


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
