"""Family sharing's pages (rules in accounts/sharing.py): the owner's sharing page of a
license (who shares it, an invitation form, "Stop sharing" behind a page that says what it
does), the page behind an invitation link, and the invitee's "Stop using this license".
Every form posts and redirects (post/redirect/get) with a notice."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.accounts.sharing import INVITATION_PATH
from licensor.accounts.views.notices import leave_notice, take_notice
from licensor.deps import RowId, client_address
from licensor.errors import ShareInvitationInvalid
from licensor.web.access import CustomerPage, PublicPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

PROBLEMS = {
    **FIELD_MESSAGES,
    "share_not_possible": N_(
        "This license cannot be shared: it is for one device only, or it is not active."
    ),
    "share_own_address": N_("This is your own address: the license is already yours."),
    "share_already_invited": N_("This address is already invited or already shares this license."),
    "share_limit_reached": N_(
        "Every seat you can share is invited or in use. Stop sharing with someone first."
    ),
}


def _private(response: Response) -> Response:
    # The invitation's address is its key: kept out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _sharing_path(public_id: str) -> str:
    return f"/account/licenses/{public_id}/sharing"


def _sharing_page(
    unit: PageUnit,
    public_id: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
    email: str = "",
) -> Response:
    sharing = unit.license_sharing
    license = sharing.owned_license(unit.account, public_id)
    notice = None
    taken = take_notice(unit, "share_invited", "share_revoked")
    if taken is not None and taken[0] == "share_invited":
        notice = unit._("The invitation was sent. It can be accepted for 7 days.")
    elif taken is not None and taken[0] == "share_revoked":
        notice = unit._("Sharing stopped; the seats it used are free again.")
    return _private(
        unit.render(
            "account/sharing.html",
            status=status,
            public_id=license.public_id,
            plan=license.plan.name,
            can_share=sharing.can_share(license),
            shares=sharing.shares_of(license),
            errors=errors or {},
            email=email,
            notice=notice,
        )
    )


@router.get("/account/licenses/{public_id}/sharing", response_class=HTMLResponse)
def sharing_page(request: Request, page: CustomerPage, public_id: str) -> Response:
    with page.open() as unit:
        return _sharing_page(unit, public_id)


@router.post("/account/licenses/{public_id}/sharing", response_class=HTMLResponse)
def invite(
    request: Request, web: Pages, page: CustomerPage, public_id: str, email: Field = ""
) -> Response:
    with page.open() as unit:
        # Each invitation mails an address the visitor typed: limited per account as
        # adding an address is.
        web.limit("account_email", f"share:{unit.account.id}")

        def done(_: None) -> str:
            leave_notice(unit, "share_invited")
            return _sharing_path(public_id)

        return form_action(
            unit,
            lambda: unit.license_sharing.invite(unit.account, public_id, email),
            done=done,
            again=lambda status, errors: _sharing_page(unit, public_id, status, errors, email),
            messages=PROBLEMS,
        )


@router.get("/account/licenses/{public_id}/sharing/{share_id}/revoke", response_class=HTMLResponse)
def revoke_form(request: Request, page: CustomerPage, public_id: str, share_id: RowId) -> Response:
    """What stopping a share does, and the button that does it."""
    with page.open() as unit:
        share = unit.license_sharing.share_for_revoke(unit.account, public_id, share_id)
        return _private(
            unit.render("account/sharing_revoke.html", public_id=public_id, share=share)
        )


@router.post("/account/licenses/{public_id}/sharing/{share_id}/revoke")
def revoke(request: Request, page: CustomerPage, public_id: str, share_id: RowId) -> Response:
    with page.open() as unit:
        unit.license_sharing.revoke(unit.account, public_id, share_id)
        leave_notice(unit, "share_revoked")
        return unit.redirect(_sharing_path(public_id))


# the invitee ------------------------------------------------------------------------------


def _invitation_page(
    unit: PageUnit, token: str, status: int = 200, error: str | None = None
) -> Response:
    invitation = unit.license_sharing.invitation(token)
    return _private(
        unit.render(
            "account/share_invitation.html",
            status=status if invitation is not None else max(status, 404),
            token=token,
            invitation=invitation,
            error=error,
            signed_in=unit.visitor.account is not None,
            next_path=INVITATION_PATH + token,
        )
    )


@router.get(INVITATION_PATH + "{token}", response_class=HTMLResponse)
def invitation(request: Request, web: Pages, page: PublicPage, token: str) -> Response:
    web.limit("follow", client_address(request))
    with page.open() as unit:
        return _invitation_page(unit, token)


@router.post(INVITATION_PATH + "{token}", response_class=HTMLResponse)
def accept(request: Request, web: Pages, page: CustomerPage, token: str) -> Response:
    web.limit("follow", client_address(request))
    with page.open() as unit:
        try:
            unit.license_sharing.accept(unit.account, token)
        except ShareInvitationInvalid as refused:
            return _invitation_page(unit, token, refused.status, unit._(refused.title))
        leave_notice(unit, "share_accepted")
        return unit.redirect("/account/licenses#shared")


@router.get("/account/shared/{share_id}/leave", response_class=HTMLResponse)
def leave_form(request: Request, page: CustomerPage, share_id: RowId) -> Response:
    with page.open() as unit:
        shared = unit.shared_licenses.shared_one(unit.account, share_id)
        return unit.render("account/shared_leave.html", shared=shared)


@router.post("/account/shared/{share_id}/leave")
def leave(request: Request, page: CustomerPage, share_id: RowId) -> Response:
    with page.open() as unit:
        unit.license_sharing.leave(unit.account, share_id)
        leave_notice(unit, "share_left")
        return unit.redirect("/account/licenses#shared")


def shared_section(unit: PageUnit) -> dict[str, Any]:
    """What the Licenses page shows of the licenses shared with the account (its
    ``account/_shared_licenses.html``), with the notice an accepted or left share left."""
    taken = take_notice(unit, "share_accepted", "share_left")
    notice = None
    if taken is not None and taken[0] == "share_accepted":
        notice = unit._("The invitation was accepted: the license is shared with you below.")
    elif taken is not None and taken[0] == "share_left":
        notice = unit._("You no longer use that license; its seats on your devices are free.")
    return {"shared": unit.shared_licenses.shared_with(unit.account), "shared_notice": notice}
