"""Staff (``/console/staff``, admins): agents and admins with their two-factor state, last
sign-in and who invited them; invite by mail, revoke an invitation, change a role, remove.
The rules are accounts/staff.py's, which ``licensor users invite|staff|set-role|
remove-staff`` call too.

The invitation link's page (``/staff-invitation``) is public: the link is the proof. An
address without an account chooses a password there; one with an account gives its
password. Either way the new member is left half signed in and sent to the second step of
signing in, which for staff without two-factor is its enrolment, then to ``/console``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.accounts import passwords, signin
from licensor.accounts.staff import INVITE_DAYS, STAFF_PROBLEMS, Staff
from licensor.accounts.throttle import SignInThrottled
from licensor.console.pages import render
from licensor.deps import RowId, client_address
from licensor.errors import FormInvalid, InvalidCredentials
from licensor.web.access import AdminPage, PublicPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

MESSAGES = {**FIELD_MESSAGES, **STAFF_PROBLEMS}
LANDING = "/console"  # agents are sent on from there to the sections they may open

DONE = {
    "invited": N_("The invitation is on its way."),
    "revoked": N_("The invitation was revoked: its link no longer works."),
    "role": N_("The role was changed."),
    "removed": N_("The staff roles were removed and every session of the account ended."),
}
ROLES = {"agent": N_("Agent"), "admin": N_("Admin")}


def _staff(unit: PageUnit) -> Staff:
    return unit.service(Staff)


def staff_page(
    unit: PageUnit,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    done: str = "",
) -> Response:
    staff = _staff(unit)
    return render(
        unit,
        "console/staff.html",
        status,
        members=staff.members(),
        invitations=staff.invitations(),
        roles=ROLES,
        errors=errors or {},
        form=form or {"email": "", "role": "agent"},
        notice=DONE.get(done),
        invite_days=INVITE_DAYS,
    )


@router.get("/console/staff", response_class=HTMLResponse)
def staff_list(page: AdminPage, done: str = "") -> Response:
    with page.open() as unit:
        return staff_page(unit, done=done)


@router.post("/console/staff/invite", response_class=HTMLResponse)
def invite(page: AdminPage, email: Field = "", role: Field = "agent") -> Response:
    with page.open() as unit:
        return form_action(
            unit,
            lambda: _staff(unit).invite(email, role, inviter=unit.account, language=unit.language),
            done="/console/staff?done=invited",
            again=lambda status, errors: staff_page(
                unit, status=status, errors=errors, form={"email": email, "role": role}
            ),
            messages=MESSAGES,
        )


@router.post("/console/staff/invitations/{invitation_id}/revoke", response_class=HTMLResponse)
def revoke(page: AdminPage, invitation_id: RowId) -> Response:
    with page.open() as unit:
        _staff(unit).revoke_invitation(invitation_id)
        return unit.redirect("/console/staff?done=revoked")


@router.post("/console/staff/{account_id}/role", response_class=HTMLResponse)
def set_role(page: AdminPage, account_id: RowId, role: Field = "") -> Response:
    with page.open() as unit:
        return form_action(
            unit,
            lambda: _staff(unit).set_role(account_id, role, by=unit.account),
            done="/console/staff?done=role",
            again=lambda status, errors: staff_page(unit, status=status, errors=errors),
            messages=MESSAGES,
            renamed={"account": "members", "role": "members"},
        )


@router.post("/console/staff/{account_id}/remove", response_class=HTMLResponse)
def remove(page: AdminPage, account_id: RowId) -> Response:
    with page.open() as unit:
        return form_action(
            unit,
            lambda: _staff(unit).remove(account_id, by=unit.account),
            done="/console/staff?done=removed",
            again=lambda status, errors: staff_page(unit, status=status, errors=errors),
            messages=MESSAGES,
            renamed={"account": "members"},
        )


# --- the invitation link ---------------------------------------------------------------------


def _invitation_page(
    unit: PageUnit, token: str, *, status: int | None = None, errors: dict[str, str] | None = None
) -> Response:
    invitation = _staff(unit).open_invitation(token)
    response = unit.render(
        "console/staff_invitation.html",
        status or (200 if invitation else 400),
        invitation=invitation,
        token=token,
        roles=ROLES,
        errors=errors or {},
        # Staff sign in with a second factor: the shorter minimum is theirs.
        min_password_length=passwords.MIN_LENGTH_WITH_SECOND_FACTOR,
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the address
    return response


@router.get("/staff-invitation", response_class=HTMLResponse)
def invitation_form(page: PublicPage, token: str = "") -> Response:
    # A form, not the GET itself: mail scanners follow links.
    with page.open() as unit:
        return _invitation_page(unit, token)


def _to_second_step(unit: PageUnit, account_id: int) -> Response:
    """Half signed in as the new member: the second step (or its enrolment) is next."""
    account = unit.accounts.get(account_id)
    signin.start_session(unit, account, pending=True, password_change_required=False)
    return unit.redirect(f"/sign-in/two-factor?next={quote(LANDING)}")


@router.post("/staff-invitation", response_class=HTMLResponse)
def join_new(page: PublicPage, token: Field = "", password: Field = "") -> Response:
    """An address without an account: the account is made with the chosen password."""
    with page.open() as unit:
        try:
            account = _staff(unit).join_new(token, password, language=unit.language)
        except FormInvalid as error:
            return _invitation_page(
                unit, token, status=422, errors=unit.field_messages(error.fields, MESSAGES)
            )
        if account is None:
            return _invitation_page(unit, token)
        return _to_second_step(unit, account.id)


@router.post("/staff-invitation/accept", response_class=HTMLResponse)
def join_existing(
    request: Request, web: Pages, page: PublicPage, token: Field = "", password: Field = ""
) -> Response:
    """An address with an account: its password, throttled as sign-in is, adds the role."""
    web.limit("signin", client_address(request))
    guard = signin.throttle(web)
    with page.open() as unit:
        invitation = _staff(unit).open_invitation(token)
        if invitation is None or invitation.account is None:
            return _invitation_page(unit, token)
        email_key = guard.email_key(invitation.email)
        try:
            claimed = signin.attempt(unit, guard, invitation.account, email_key, stage="password")
        except SignInThrottled as throttled:
            message = signin.throttled_message(unit, throttled)
            return _invitation_page(unit, token, status=429, errors={"password": message})
        try:
            account = unit.authentication.authenticate(
                invitation.email, password, actor=signin.actor(request), email_key=email_key
            )
        except InvalidCredentials:
            wrong = unit._(FIELD_MESSAGES["password_wrong"])
            return _invitation_page(unit, token, status=401, errors={"password": wrong})
        guard.give_back(claimed)
        joined = _staff(unit).join_existing(token, account)
        if joined is None:
            return _invitation_page(unit, token)
        return _to_second_step(unit, joined.id)
