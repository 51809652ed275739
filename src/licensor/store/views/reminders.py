"""Expiry reminders, turned off and on: the unsubscribe link of each reminder (no sign-in:
the link is signed) and the switch on a license in My Account.

Opening the link only asks (mail scanners open links); the button posts. A mail program's
one-click unsubscribe (RFC 8058: ``List-Unsubscribe=One-Click`` posted to the link) needs no
CSRF token: the signed link itself is the proof, and no browser session is involved.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.datastructures import FormData

from licensor.deps import rate_limited
from licensor.store.reminders import unsubscribe_path
from licensor.web.access import CustomerPage, PublicPage
from licensor.web.pages import Pages

router = APIRouter(include_in_schema=False)

# The link is signed, so it cannot be guessed; this keeps anyone from trying.
LINK_LIMIT = [Depends(rate_limited("follow"))]
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def _private(response: Response) -> Response:
    """The link is the key: its page stays out of caches and Referer headers."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/reminders/unsubscribe/{token}", response_class=HTMLResponse, dependencies=LINK_LIMIT)
def unsubscribe_page(page: PublicPage, token: str, done: str = "") -> Response:
    with page.open() as unit:
        license = unit.reminders.by_token(token)
        return _private(
            unit.render(
                "reminders/unsubscribe.html",
                public_id=license.public_id,
                off=license.reminders_off_at is not None,
                done=done == "1",
                action=unsubscribe_path(token),
            )
        )


@router.post("/reminders/unsubscribe/{token}", response_class=HTMLResponse, dependencies=LINK_LIMIT)
def unsubscribe(request: Request, web: Pages, page: PublicPage, token: str) -> Response:
    form: FormData | None = getattr(request.state, "form_cache", None)
    if form is not None and form.get(ONE_CLICK[0]) == ONE_CLICK[1]:
        with web.unit(request) as unit:  # a mail program's POST: no CSRF token to check
            unit.reminders.unsubscribe(token, actor="mail:one-click")
        return _private(PlainTextResponse("Unsubscribed.\n"))
    with page.open() as unit:
        unit.reminders.unsubscribe(token, actor=unit.actor)
        return _private(unit.redirect(f"{unsubscribe_path(token)}?done=1"))


@router.get("/account/licenses/{public_id}/reminders", response_class=HTMLResponse)
def reminders_setting(page: CustomerPage, public_id: str, saved: str = "") -> Response:
    with page.open() as unit:
        return unit.render(
            "reminders/account_setting.html",
            setting=unit.reminders.setting(unit.account, public_id),
            saved=saved == "1",
        )


@router.post("/account/licenses/{public_id}/reminders", response_class=HTMLResponse)
def set_reminders(request: Request, page: CustomerPage, public_id: str) -> Response:
    form: FormData | None = getattr(request.state, "form_cache", None)
    on = form is not None and form.get("reminders") == "on"
    back = form.get("back") if form is not None else None
    with page.open() as unit:
        license = unit.reminders.set_for_account(unit.account, public_id, on)
        here = f"/account/licenses/{license.public_id}"
        # Back to the license page the switch sits on, or this section's own page.
        target = here if back == "license" else f"{here}/reminders?saved=1"
        return unit.redirect(target)
