"""The dev mailbox: with no SMTP configured, every outgoing message is readable here.

Only mounted while ``LICENSOR_SMTP_URL`` is unset, i.e. on the embedded default.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from licensor.errors import NotFound
from licensor.mail.outbox import bodies
from licensor.models import OutboxMessage
from licensor.web.pages import Pages

router = APIRouter(include_in_schema=False)


@router.get("/dev/mail", response_class=HTMLResponse)
def mailbox(request: Request, web: Pages) -> Response:
    with web.unit(request) as unit:
        messages = unit.session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)
        ).all()
        return unit.render("dev/mailbox.html", messages=messages)


@router.get("/dev/mail/{message_id}", response_class=HTMLResponse)
def message(request: Request, web: Pages, message_id: int) -> Response:
    with web.unit(request) as unit:
        stored = unit.session.get(OutboxMessage, message_id)
        if stored is None:
            raise NotFound()
        text, html = bodies(web.keyring, stored)
        return unit.render("dev/message.html", message=stored, text=text, html=html)
