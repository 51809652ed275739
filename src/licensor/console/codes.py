"""Codes and licenses (``/console/codes``): search by code, key, public ID, email or order; a
page each with history, devices and the account; block, unblock, extend the term, release
seats, set its own device limit, grant one more transfer, each audited with a reason.

The search is the desk's one lookup (``support/desk/lookup.py``) and, like the desk's, is
not audited: it shows codes masked, and nothing on these pages reveals one (an admin who
must see a code in full has ``licensor codes show --reveal``, audited). The actions are
``licensing/staff_actions.py``'s, which ``licensor codes`` and ``licensor licenses`` call
too. Agents search, view, block and release; unblocking and extending are an admin's
(``AdminPage``), and an agent's page says so instead of offering the button.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from licensor.console.code_search import hits, order_link, orders_named
from licensor.console.pages import is_admin, render
from licensor.deps import RowId
from licensor.errors import (
    FormInvalid,
    LicenseActionRefused,
    LicenseUnknown,
    NotFound,
)
from licensor.licensing.lease_actions import LeaseActions
from licensor.licensing.staff_actions import StaffActions
from licensor.models import CodeState
from licensor.support.desk.lookup import LookupResult
from licensor.support.views.desk_pages import form_id
from licensor.web.access import AdminPage, StaffPage
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]
T = TypeVar("T")

PROBLEMS = {
    **FIELD_MESSAGES,
    "confirm_required": N_("Tick the box to confirm."),
    "term_days_or_date": N_("Give either a number of days or a new end date."),
    "term_days_range": N_("Extend by 1 to 3,650 days (ten years)."),
    "term_days_invalid": N_("Enter a whole number of days, such as 30."),
    "term_not_later": N_("Choose a day after the current end of the term and after today."),
    "not_blocked": N_("This code is not blocked."),
    "batch_blocked": N_(
        "This code's batch is blocked whole: it is unblocked with its batch, on the batch's page."
    ),
    "order_refunded": N_(
        "This code's order was refunded, so the code stays blocked: sell or issue a new code."
    ),
    "replaced": N_(
        "This code was replaced by another, which holds its license now: it stays blocked."
    ),
    "subscription": N_(
        "This license belongs to a subscription: its term follows the subscription's billing."
    ),
    "devices_range": N_("Enter a device limit from 1 to 100,000, or leave it empty."),
    "devices_invalid": N_("Enter a whole number of devices, such as 3."),
    "transfers_range": N_("This license has been granted as many transfers as it may be."),
}
NOTICES = {
    "blocked": N_("The code is blocked: it no longer activates or validates."),
    "unblocked": N_("The code is unblocked: it activates and validates again."),
    "extended": N_("The term is extended. The owner was told by mail."),
    "released": N_("The seats were released. The owner was told by mail."),
    "none_released": N_("No seat was in use: nothing changed."),
    "devices_set": N_("The device limit is changed. Devices get it at their next check."),
    "transfer_granted": N_("One more transfer is granted: a new device may now take a seat."),
    "lease_freed": N_("The lease is freed: another device can take it now."),
    "lease_gone": N_("That lease had already lapsed or been freed: nothing changed."),
}


# --- search ------------------------------------------------------------------------------


@router.get("/console/codes", response_class=HTMLResponse)
def search(page: StaffPage, q: str = "") -> Response:
    with page.open() as unit:
        found: LookupResult | None = None
        mistake = None
        if q.strip():
            found, mistake = unit.desk_lookup.search(q)
        error = unit._(mistake) if mistake else None
        return render(
            unit,
            "console/codes.html",
            status=200 if error is None else 422,
            q=q,
            found=found,
            rows=hits(found) if found else [],
            error=error,
            orders_named=orders_named,
        )


# --- a code ------------------------------------------------------------------------------


def code_page(
    unit: PageUnit,
    code_id: int,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    done: str = "",
) -> HTMLResponse:
    """A code: its facts, its license and account, its history, and the actions."""
    lookup = unit.desk_lookup
    detail = lookup.code_detail(code_id)
    actions = unit.service(StaffActions)
    license = detail.code.license
    return render(
        unit,
        "console/code.html",
        status=status,
        detail=detail,
        batch_id=detail.code.batch_id,
        history=actions.history(code=detail.code, license=license),
        order_link=order_link,
        admin=is_admin(unit),
        errors=errors or {},
        notice=unit._(NOTICES[done]) if done in NOTICES else None,
    )


@router.get("/console/codes/{code_id}", response_class=HTMLResponse)
def code_view(page: StaffPage, code_id: RowId, done: str = "") -> Response:
    with page.open() as unit:
        return code_page(unit, code_id, done=done)


@router.post("/console/codes/{code_id}/block", response_class=HTMLResponse)
def block(page: StaffPage, code_id: RowId, reason: Field = "", confirm: Field = "") -> Response:
    with page.open() as unit:
        actor = unit.actor

        def act() -> object:
            _confirmed(confirm, reason)
            return unit.service(StaffActions).block_code(code_id, reason=reason, actor=actor)

        return _action(unit, act, code_id, "block_", f"/console/codes/{code_id}?done=blocked")


@router.post("/console/codes/{code_id}/unblock", response_class=HTMLResponse)
def unblock(page: AdminPage, code_id: RowId, reason: Field = "") -> Response:
    with page.open() as unit:
        actor = unit.actor
        return _action(
            unit,
            lambda: unit.service(StaffActions).unblock_code(code_id, reason=reason, actor=actor),
            code_id,
            "unblock_",
            f"/console/codes/{code_id}?done=unblocked",
        )


def _action(
    unit: PageUnit, act: Callable[[], object], code_id: int, form: str, done: str
) -> Response:
    """A code's action: done, back to its page with a notice; refused, its page again with
    the problem beside the form's fields (``form``: their prefix)."""
    try:
        act()
    except FormInvalid as error:
        messages = unit.field_messages(error.fields, PROBLEMS, form)
        return code_page(unit, code_id, 422, errors=messages)
    except LicenseActionRefused as error:
        messages = unit.field_messages({"refused": error.why}, PROBLEMS, form)
        return code_page(unit, code_id, error.status, errors=messages)
    return unit.redirect(done)


def _confirmed(confirm: str, reason: str) -> None:
    """What an agent cannot undo (a block; every seat released) asks for a tick as well as
    a reason."""
    problems = {}
    if confirm != "yes":
        problems["confirm"] = "confirm_required"
    if not reason.strip():
        problems["reason"] = "required"
    if problems:
        raise FormInvalid(problems)


# --- a license ---------------------------------------------------------------------------


def license_page(
    unit: PageUnit,
    public_id: str,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    done: str = "",
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """A license: its term, devices, code, account, history, and the actions."""
    lookup = unit.desk_lookup
    detail = lookup.license_detail(public_id)
    code = detail.license.activation_code
    actions = unit.service(StaffActions)
    return render(
        unit,
        "console/license.html",
        status=status,
        detail=detail,
        code_detail=lookup.code_detail(code.id) if code else None,
        holder=actions.holder(detail.license),
        history=actions.history(code=code, license=detail.license),
        order_link=order_link,
        admin=is_admin(unit),
        today=unit.now.date(),
        errors=errors or {},
        values=values or {},
        notice=unit._(NOTICES[done]) if done in NOTICES else None,
        blocked_state=CodeState.BLOCKED,
        transfers_left=actions.transfers_left(detail.license),
        leases=unit.service(LeaseActions).holders(detail.license),
        shares=unit.license_sharing.shares_of(detail.license),
        reserve=unit.reserves.reserve(detail.license),
    )


def _license_or_404(unit: PageUnit, public_id: str) -> str:
    """The license's public ID as stored; 404 for one that does not exist."""
    try:
        return unit.licenses.by_public_id(public_id).public_id
    except LicenseUnknown:
        raise NotFound("there is no license with this public ID") from None


@router.get("/console/licenses/{public_id}", response_class=HTMLResponse)
def license_view(page: StaffPage, public_id: str, done: str = "") -> Response:
    with page.open() as unit:
        return license_page(unit, public_id, done=done)


@router.post("/console/licenses/{public_id}/extend", response_class=HTMLResponse)
def extend(
    page: AdminPage, public_id: str, days: Field = "", until: Field = "", reason: Field = ""
) -> Response:
    with page.open() as unit:
        public_id = _license_or_404(unit, public_id)
        actor = unit.actor

        def act() -> object:
            by_days, to_day = _term(unit, days, until, reason)
            return unit.service(StaffActions).extend_term(
                public_id, days=by_days, until=to_day, reason=reason, actor=actor
            )

        return _license_action(
            unit, act, public_id, "extend_", "extended", {"days": days, "until": until}
        )


@router.post("/console/licenses/{public_id}/release", response_class=HTMLResponse)
def release(
    page: StaffPage,
    public_id: str,
    activation_id: Field = "all",
    reason: Field = "",
    confirm: Field = "",
) -> Response:
    with page.open() as unit:
        public_id = _license_or_404(unit, public_id)
        actor = unit.actor
        every = activation_id == "all"
        seat = None if every else form_id(activation_id)
        form = "release_all_" if every else f"release_{seat}_"

        def act() -> int:
            if every:
                _confirmed(confirm, reason)
            return unit.service(StaffActions).release_seats(
                public_id, activation_id=seat, reason=reason, actor=actor
            )

        return _license_action(unit, act, public_id, form, "released", {})


@router.post("/console/licenses/{public_id}/devices", response_class=HTMLResponse)
def set_devices(
    page: AdminPage, public_id: str, devices: Field = "", reason: Field = ""
) -> Response:
    """The license's own device limit (empty: its plan's)."""
    with page.open() as unit:
        public_id = _license_or_404(unit, public_id)
        actor = unit.actor

        def act() -> object:
            try:
                limit = int(devices.strip()) if devices.strip() else None
            except ValueError:
                raise FormInvalid({"devices_max": "devices_invalid"}) from None
            return unit.service(StaffActions).set_devices(
                public_id, limit, reason=reason, actor=actor
            )

        return _license_action(unit, act, public_id, "limit_", "devices_set", {"devices": devices})


@router.post("/console/licenses/{public_id}/grant-transfer", response_class=HTMLResponse)
def grant_transfer(page: StaffPage, public_id: str, reason: Field = "") -> Response:
    """One more transfer than the plan's cap allows (support's grant)."""
    with page.open() as unit:
        public_id = _license_or_404(unit, public_id)
        actor = unit.actor

        def act() -> object:
            return unit.service(StaffActions).grant_transfer(public_id, reason=reason, actor=actor)

        return _license_action(unit, act, public_id, "transfer_", "transfer_granted", {})


def _license_action(
    unit: PageUnit,
    act: Callable[[], T],
    public_id: str,
    form: str,
    done: str,
    values: dict[str, str],
) -> Response:
    try:
        result = act()
    except FormInvalid as error:
        messages = unit.field_messages(error.fields, PROBLEMS, form)
        return license_page(unit, public_id, 422, errors=messages, values=values)
    except LicenseActionRefused as error:
        messages = unit.field_messages({"refused": error.why}, PROBLEMS, form)
        return license_page(unit, public_id, error.status, errors=messages, values=values)
    if done == "released" and result == 0:
        done = "none_released"
    return unit.redirect(f"/console/licenses/{quote(public_id, safe='')}?done={done}")


def _term(unit: PageUnit, days: str, until: str, reason: str) -> tuple[int | None, date | None]:
    """The extension asked for: days, or a day (as typed, or ISO from a date field)."""
    problems: dict[str, str] = {}
    by_days: int | None = None
    to_day: date | None = None
    if days.strip():
        try:
            by_days = int(days.strip().replace(",", "").replace(".", ""))
        except ValueError:
            problems["days"] = "term_days_invalid"
    if until.strip():
        try:
            to_day = date.fromisoformat(unit.typed_date(until.strip()))
        except ValueError:
            problems["until"] = "date_invalid"
    if problems:
        if not reason.strip():
            problems["reason"] = "required"
        raise FormInvalid(problems)
    return by_days, to_day
