"""Licenses and codes on the desk (/desk/licenses/ID, /desk/codes/ID), and the actions on
them from a request: send a code, attach it to the customer's account, release seats,
block a code and issue its replacement, grant a license one more transfer. Rules live in
``support/desk/`` (and ``licensing/staff_actions.py``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from licensor.deps import RowId
from licensor.errors import DestinationNotOfRecord, LicenseLinkedElsewhere, RequestHasNoAccount
from licensor.licensing.staff_actions import StaffActions
from licensor.support.views.desk_pages import (
    PROBLEMS,
    FromRequest,
    back_to,
    code_page,
    form_id,
    license_page,
    notice,
)
from licensor.support.views.desk_requests import after_attach
from licensor.web.access import StaffPage
from licensor.web.actions import form_action

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


@router.get("/desk/licenses/{public_id}", response_class=HTMLResponse)
def license_view(
    page: StaffPage, public_id: str, number: FromRequest = "", done: str = ""
) -> Response:
    with page.open() as unit:
        return license_page(unit, public_id, number, notice=notice(unit, done))


@router.post("/desk/licenses/{public_id}/grant-transfer", response_class=HTMLResponse)
def grant_transfer(
    page: StaffPage, public_id: str, reason: Field = "", request: Field = ""
) -> Response:
    """One more transfer than the license's plan allows in its period (issue 16, item 4)."""
    with page.open() as unit:
        return form_action(
            unit,
            lambda: unit.service(StaffActions).grant_transfer(
                public_id, reason=reason, actor=unit.actor
            ),
            done=lambda granted: (
                f"/desk/licenses/{quote(granted.public_id, safe='')}?"
                + urlencode(
                    {"done": "transfer_granted", **({"request": request} if request else {})}
                )
            ),
            again=lambda status, errors: license_page(
                unit, public_id, request, status, errors=errors
            ),
            messages=PROBLEMS,
            form="transfer_",
        )


@router.get("/desk/codes/{code_id}", response_class=HTMLResponse)
def code_view(
    page: StaffPage, code_id: RowId, done: str = "", number: FromRequest = ""
) -> Response:
    with page.open() as unit:
        return code_page(unit, code_id, number, notice=notice(unit, done))


@router.post("/desk/requests/{number}/send-code", response_class=HTMLResponse)
def send_code(
    page: StaffPage,
    number: str,
    code_id: Field = "",
    destination: Field = "",
    reason: Field = "",
    then: Field = "",
    message: Field = "",
) -> Response:
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        code = form_id(code_id)
        return form_action(
            unit,
            lambda: unit.recovery.send_code(
                unit.account,
                support_request,
                code,
                destination=destination,
                reason=reason,
                then=then,
                message=message,
            ),
            done=back_to(number, "code_sent"),
            again=lambda status, errors: code_page(unit, code, number, status, errors=errors),
            messages=PROBLEMS,
            form="send_",
            refusals={DestinationNotOfRecord: "send_destination"},
        )


@router.post("/desk/requests/{number}/attach-code", response_class=HTMLResponse)
def attach_code(page: StaffPage, number: str, code_id: Field = "", reason: Field = "") -> Response:
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        code = form_id(code_id)
        return form_action(
            unit,
            lambda: unit.attaching.attach_code(unit.account, support_request, code, reason=reason),
            done=lambda attached: after_attach(number, attached),
            # The problem with the form as a whole (already asked, no account, another
            # account's) is the page's alert.
            again=lambda status, errors: code_page(
                unit, code, number, status, errors=errors, error=errors.get("attach_attach")
            ),
            messages=PROBLEMS,
            form="attach_",
            refusals={
                RequestHasNoAccount: "attach_attach",
                LicenseLinkedElsewhere: "attach_attach",
            },
        )


@router.post("/desk/requests/{number}/release", response_class=HTMLResponse)
def release(
    page: StaffPage,
    number: str,
    license_id: Field = "",
    activation_id: Field = "all",
    reason: Field = "",
) -> Response:
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        license = form_id(license_id)
        seat = None if activation_id == "all" else form_id(activation_id)
        return form_action(
            unit,
            lambda: unit.recovery.release(
                unit.account, support_request, license, activation_id=seat, reason=reason
            ),
            done=back_to(number, "released"),
            again=lambda status, errors: license_page(
                unit, unit.desk_lookup.license(license).public_id, number, status, errors=errors
            ),
            messages=PROBLEMS,
            form="release_",
        )


@router.post("/desk/requests/{number}/replace-code", response_class=HTMLResponse)
def replace_code(page: StaffPage, number: str, code_id: Field = "", reason: Field = "") -> Response:
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        code = form_id(code_id)
        return form_action(
            unit,
            lambda: unit.recovery.block_and_replace(
                unit.account, support_request, code, reason=reason
            ),
            done=lambda replacement: f"/desk/codes/{replacement.id}?request={number}&done=replaced",
            again=lambda status, errors: code_page(unit, code, number, status, errors=errors),
            messages=PROBLEMS,
            form="block_",
        )
