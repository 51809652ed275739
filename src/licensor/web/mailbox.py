"""The dev mailbox: every outgoing message, readable in the browser, for ``licensor demo``.

Mounted only when ``dev_mailbox.mounted`` says so, and each request answers 404 unless it
reached a loopback listener (``dev_mailbox.reachable``): what it shows (reset links,
sign-in codes) would hand any account to whoever can read it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from licensor.deps import RowId
from licensor.errors import NotFound
from licensor.mail import dev_mailbox
from licensor.mail.outbox import bodies
from licensor.models import OutboxMessage
from licensor.web.access import PublicPage
from licensor.web.pages import Pages


async def _loopback_only(request: Request) -> None:
    if not dev_mailbox.reachable(request.app.state.settings, request.scope):
        raise NotFound()


router = APIRouter(include_in_schema=False, dependencies=[Depends(_loopback_only)])


@router.get("/dev/mail", response_class=HTMLResponse)
def mailbox(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        messages = unit.session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)
        ).all()
        return unit.render("dev/mailbox.html", messages=messages)


@router.get("/dev/mail/{message_id}", response_class=HTMLResponse)
def message(request: Request, web: Pages, page: PublicPage, message_id: RowId) -> Response:
    with page.open() as unit:
        stored = unit.session.get(OutboxMessage, message_id)
        if stored is None:
            raise NotFound()
        text, html = bodies(web.keyring, stored)
        return unit.render("dev/message.html", message=stored, text=text, html=html)
