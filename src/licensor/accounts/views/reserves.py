"""A license's reserve code on My Account's license page: the code in full (the account
owns both codes), when it starts, "Withdraw" behind a confirmation before then, and a form
to add one. The rules and the audit rows are licensing/reserves.py's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.errors import (
    CodeBlocked,
    CodeInUse,
    CodeMalformed,
    CodeNotSold,
    CodeReserved,
    CodeUnknown,
    LicenseExpired,
    LicensorError,
    ReserveExists,
    ReserveNotForSubscription,
    ReservePlanMismatch,
    ReserveStarted,
    ReserveUnknown,
)
from licensor.licensing import formats
from licensor.licensing.licenses import license_status
from licensor.models import LicenseStatus
from licensor.web.access import CustomerPage
from licensor.web.i18n import N_
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

NOTICES = {
    "reserve_added": N_(
        "The reserve code was added: the license now runs longer, and the reserve code "
        "starts when the current term ends."
    ),
    "reserve_withdrawn": N_(
        "The reserve code was withdrawn: the term is as it was, and the code is unused again."
    ),
}

# What each refusal says beside the field. A code that cannot be found or is blocked gets
# one sentence, as on the Licenses page: the form tells no more than activation would.
REFUSALS: dict[type[LicensorError], str] = {
    CodeMalformed: N_("This is not a valid activation code; check it for typing mistakes."),
    CodeUnknown: N_("This activation code cannot be added. Check it, or contact support."),
    CodeBlocked: N_("This activation code cannot be added. Check it, or contact support."),
    CodeNotSold: N_(
        "This activation code has not been sold yet, so it cannot be added or "
        "activated. The shop that sold it must register the sale first: ask it to."
    ),
    CodeInUse: N_("This code has been used already: only an unused code can be a reserve code."),
    CodeReserved: N_("This code is already kept in reserve for a license."),
    ReservePlanMismatch: N_("A reserve code must be of the same plan as this license."),
    ReserveExists: N_("This license already has a reserve code."),
    LicenseExpired: N_("This license has expired: activate the new code in the app instead."),
    ReserveNotForSubscription: N_("A subscription renews by itself; it takes no reserve code."),
}


def reserve_section(unit: PageUnit, public_id: str, done: str = "") -> dict[str, Any]:
    """What the license page shows of the reserve: ``reserve`` (the code in full, its
    start, whether it can still be withdrawn), whether one can be added, the notice."""
    license = unit.license_sharing.owned_license(unit.account, public_id)
    code = unit.reserves.reserve_code(license)
    reserve = None
    if code is not None:
        details = unit.reserves.reserve(license)
        canonical = unit.codes.reveal_code(code)
        # A device holding the license may have entered a code another account owns:
        # that one is shown masked, as a code that is not this account's always is.
        ours = code.account_id is None or code.account_id == unit.account.id
        reserve = {
            "code": formats.format_code(canonical) if ours else formats.mask_code(canonical),
            "starts_at": code.reserve_starts_at,
            "expires_at": license.expires_at,
            "withdrawable": details is not None and not details.started,
        }
    return {
        "reserve": reserve,
        # A reserve that has started is the term now: the next one may be added.
        "reserve_possible": (reserve is None or not reserve["withdrawable"])
        and license.code_id is not None
        and license_status(license, unit.now) == LicenseStatus.ACTIVE,
        "reserve_notice": unit._(NOTICES[done]) if done in NOTICES else None,
        "reserve_error": None,
        "reserve_typed": "",
    }


def _license_page(unit: PageUnit, public_id: str, status: int, **reserve: Any) -> Response:
    detail = unit.license_details.of_account(unit.account, public_id)
    response = unit.render(
        "account/license.html",
        status=status,
        license=detail,
        notice=None,
        **{**reserve_section(unit, public_id), **reserve},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/account/licenses/{public_id}/reserve", response_class=HTMLResponse)
def add_reserve(
    request: Request,
    web: Pages,
    page: CustomerPage,
    public_id: str,
    activation_code: Annotated[str, Form()] = "",
) -> Response:
    """The owner keeps a second code in reserve for this license."""
    web.limit("link", request.client.host if request.client else "unknown")
    with page.open() as unit:
        unit.license_sharing.owned_license(unit.account, public_id)  # before the code
        try:
            code = unit.codes.find_code(activation_code, lock=True)
            license = unit.license_sharing.owned_license(unit.account, public_id, lock=True)
            unit.reserves.add(
                license, code, actor=unit.account.email, by="account", account_id=unit.account.id
            )
        except tuple(REFUSALS) as refused:
            return _license_page(
                unit,
                public_id,
                422,
                reserve_error=unit._(REFUSALS[type(refused)]),
                reserve_typed=activation_code,
            )
        return unit.redirect(f"/account/licenses/{public_id}?done=reserve_added")


@router.get("/account/licenses/{public_id}/reserve/withdraw", response_class=HTMLResponse)
def withdraw_form(request: Request, page: CustomerPage, public_id: str) -> Response:
    """What withdrawing does, and the button that does it."""
    with page.open() as unit:
        section = reserve_section(unit, public_id)
        if section["reserve"] is None or not section["reserve"]["withdrawable"]:
            return unit.redirect(f"/account/licenses/{public_id}")
        return unit.render(
            "account/reserve_withdraw.html", public_id=public_id, reserve=section["reserve"]
        )


@router.post("/account/licenses/{public_id}/reserve/withdraw", response_class=HTMLResponse)
def withdraw(request: Request, page: CustomerPage, public_id: str) -> Response:
    """The owner takes the reserve code back before it starts."""
    with page.open() as unit:
        license = unit.license_sharing.owned_license(unit.account, public_id, lock=True)
        try:
            unit.reserves.withdraw(license, actor=unit.account.email)
        except (ReserveUnknown, ReserveStarted):
            return unit.redirect(f"/account/licenses/{public_id}")
        return unit.redirect(f"/account/licenses/{public_id}?done=reserve_withdrawn")
