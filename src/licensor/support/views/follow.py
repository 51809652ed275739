"""Following a request behind the mailed link (/support/requests/TOKEN): the thread the
customer may read, its screenshots, and the customer's answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.deps import RowId
from licensor.errors import FormInvalid
from licensor.support.attachments import load_attachment
from licensor.support.service import follow_path
from licensor.support.views.customer_pages import (
    FOLLOW_LIMIT,
    SupportPage,
    SupportPages,
    actor,
    customer,
    messages,
    posted_form,
    posted_uploads,
    private,
    text_field,
    thread_page,
)
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)


def _request_page(
    unit: PageUnit,
    token: str,
    errors: dict[str, str] | None = None,
    message: str = "",
    refused_filename: str = "",
    sent: bool = False,
) -> Response:
    return thread_page(
        unit,
        unit.support.follow(token),
        base=follow_path(token),
        errors=errors,
        message=message,
        refused_filename=refused_filename,
        sent=sent,
    )


@router.get("/support/requests/{token}", response_class=HTMLResponse, dependencies=FOLLOW_LIMIT)
def follow_request(page: SupportPage, token: str, sent: str = "") -> Response:
    with page.open() as unit:
        return _request_page(unit, token, sent=sent == "1")


@router.post("/support/requests/{token}", response_class=HTMLResponse, dependencies=FOLLOW_LIMIT)
def reply(request: Request, web: SupportPages, page: SupportPage, token: str) -> Response:
    web.check_csrf(request)
    posted = posted_form(request)
    message = text_field(posted, "message")
    uploads = posted_uploads(posted)
    with page.open() as unit:
        try:
            unit.support.reply(token, message, uploads, actor=actor(request, customer(unit)))
        except FormInvalid as error:
            problems = messages(unit, error.fields)
            return _request_page(unit, token, problems, message, uploads.refused_filename)
        return private(unit.redirect(f"{follow_path(token)}?sent=1#reply"))


@router.get("/support/requests/{token}/attachments/{attachment_id}", dependencies=FOLLOW_LIMIT)
def attachment_image(page: SupportPage, token: str, attachment_id: RowId) -> Response:
    """A screenshot of the request, to the holder of its link only; served so that no
    browser treats it as anything but a PNG picture."""
    with page.open() as unit:
        attachment = unit.support.customer_attachment(token, attachment_id)
        png = load_attachment(unit.session, unit.settings, unit.keyring, attachment)
    response = Response(png, media_type="image/png")
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return private(response)
