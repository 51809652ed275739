"""My Account's Security: recent sign-ins, the open sessions, and "sign out everywhere
else" (a form: POST with its CSRF token, then back to the page, 303). The rules are
accounts/security.py's; a sign-in is recorded by accounts/signin.py as it happens.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.accounts.views.notices import leave_notice, take_notice
from licensor.web.access import CustomerPage
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

PAGE = "/account/security"


def _current_session(unit: PageUnit) -> int:
    web_session = unit.visitor.web_session
    assert web_session is not None  # a customer page has a signed-in visitor
    return web_session.id


def _notice(unit: PageUnit) -> str | None:
    taken = take_notice(unit, "signed_out_others")
    if taken is None or taken[0] != "signed_out_others":
        return None
    count = taken[1]
    if count == 0:
        return unit._("No other browser was signed in.")
    return unit.ngettext(
        "{count} other session was signed out.", "{count} other sessions were signed out.", count
    ).format(count=count)


@router.get(PAGE, response_class=HTMLResponse)
def security(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        security = unit.account_security
        return unit.render(
            "account/security.html",
            sign_ins=security.recent_sign_ins(unit.account, unit.language),
            sessions=security.open_sessions(unit.account, _current_session(unit), unit.language),
            notice=_notice(unit),
        )


@router.post(f"{PAGE}/sign-out-others")
def sign_out_others(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        ended = unit.account_security.sign_out_others(unit.account, keep=_current_session(unit))
        leave_notice(unit, "signed_out_others", ended)
        return unit.redirect(PAGE)
