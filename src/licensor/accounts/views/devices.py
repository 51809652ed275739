"""My Account's Devices: the list (name, platform, first activation, last seen), a name of
the owner's for a device, and removing one to free its seats (F8) after a page that says
what will happen. Every form posts and redirects back to the list (post/redirect/get),
so the address is the list's and a reload neither re-posts nor answers 405.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.accounts.devices import DEVICE_NAME_MAX
from licensor.accounts.views.notices import leave_notice, take_notice
from licensor.deps import RowId
from licensor.web.access import CustomerPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

LIST = "/account/devices"

NAME_PROBLEMS = {
    "device_name_too_long": N_("Use at most {count} characters."),
    "device_name_invalid": N_("Use letters, digits, spaces and punctuation only."),
}


def _notice(unit: PageUnit) -> str | None:
    taken = take_notice(unit, "device_removed", "device_renamed")
    if taken is None:
        return None
    what, count = taken
    if what == "device_removed":
        return unit.ngettext(
            "The device was removed; {count} license seat is free again.",
            "The device was removed; {count} license seats are free again.",
            count,
        ).format(count=count)
    if what == "device_renamed":
        return unit._("The device's name was saved.")
    return None


@router.get("/account/devices", response_class=HTMLResponse)
def devices(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        rows = unit.account_devices.of_account(unit.account)
        return unit.render("account/devices.html", devices=rows, notice=_notice(unit))


@router.get("/account/devices/{device_id}/rename", response_class=HTMLResponse)
def rename_form(request: Request, page: CustomerPage, device_id: RowId) -> Response:
    with page.open() as unit:
        device = unit.account_devices.one(unit.account, device_id)
        return _rename_page(unit, device_id, device.name if device.renamed else "")


def _rename_page(
    unit: PageUnit,
    device_id: int,
    typed: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    device = unit.account_devices.one(unit.account, device_id)
    return unit.render(
        "account/device_rename.html",
        status=status,
        device=device,
        typed=typed,
        errors=errors or {},
        max_length=DEVICE_NAME_MAX,
    )


@router.post("/account/devices/{device_id}/rename", response_class=HTMLResponse)
def rename(request: Request, page: CustomerPage, device_id: RowId, name: Field = "") -> Response:
    with page.open() as unit:

        def renamed(_: None) -> str:
            leave_notice(unit, "device_renamed")
            return LIST

        def again(status: int, errors: dict[str, str]) -> Response:
            shown = {field: text.format(count=DEVICE_NAME_MAX) for field, text in errors.items()}
            return _rename_page(unit, device_id, name, status, shown)

        return form_action(
            unit,
            lambda: unit.account_devices.rename(unit.account, device_id, name),
            done=renamed,
            again=again,
            messages=NAME_PROBLEMS,
        )


@router.get("/account/devices/{device_id}/remove", response_class=HTMLResponse)
def remove_form(request: Request, page: CustomerPage, device_id: RowId) -> Response:
    """What removing the device will do, and the button that does it (no script needed)."""
    with page.open() as unit:
        device = unit.account_devices.one(unit.account, device_id)
        return unit.render("account/device_remove.html", device=device)


@router.post("/account/devices/{device_id}/remove")
def remove_device(request: Request, page: CustomerPage, device_id: RowId) -> Response:
    with page.open() as unit:
        released = unit.account_devices.remove(unit.account, device_id)
        leave_notice(unit, "device_removed", released)
        return unit.redirect(LIST)
