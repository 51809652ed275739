"""My Account's support requests (/account/requests): the list with each request's number,
topic, status and date, and each request's thread with the reply form, as behind its
follow link but found by the signed-in account (``support/account_requests.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from licensor.deps import RowId
from licensor.errors import FormInvalid
from licensor.support.attachments import load_attachment
from licensor.support.updates import customer_updates
from licensor.support.views.customer_pages import (
    STATUS_LABELS,
    TOPIC_LABELS,
    SupportCustomerPage,
    SupportPages,
    actor,
    messages,
    posted_form,
    posted_uploads,
    private,
    text_field,
    thread_page,
)
from licensor.web.access import CustomerPage

router = APIRouter(include_in_schema=False)

LIST = "/account/requests"


def request_path(number: str) -> str:
    return f"{LIST}/{number}"


@router.get(LIST, response_class=HTMLResponse)
def account_requests(page: CustomerPage) -> Response:
    with page.open() as unit:
        support_requests = unit.account_requests.of_account(unit.account)
        return unit.render(
            "support/account_requests.html",
            support_requests=support_requests,
            # What support last did, beside the status ("We sent your activation code...").
            latest={
                item.id: updates[-1]
                for item in support_requests
                if (updates := customer_updates(item))
            },
            topic_labels=TOPIC_LABELS,
            status_labels=STATUS_LABELS,
        )


@router.get("/account/support")
def old_account_requests() -> Response:
    """Where the list was before it had a page per request."""
    return RedirectResponse(LIST, status_code=301)


@router.get(LIST + "/{number}", response_class=HTMLResponse)
def account_request(page: CustomerPage, number: str, sent: str = "") -> Response:
    with page.open() as unit:
        found = unit.account_requests.request(unit.account, number)
        return thread_page(
            unit, found, base=request_path(found.number), sent=sent == "1", in_account=True
        )


@router.post(LIST + "/{number}", response_class=HTMLResponse)
def reply(request: Request, web: SupportPages, page: SupportCustomerPage, number: str) -> Response:
    web.check_csrf(request)  # before any image is decoded
    posted = posted_form(request)
    message = text_field(posted, "message")
    uploads = posted_uploads(posted)
    with page.open() as unit:
        found = unit.account_requests.request(unit.account, number, lock=True)
        base = request_path(found.number)
        try:
            unit.support.reply_to(found, message, uploads, actor=actor(request, unit.account))
        except FormInvalid as error:
            return thread_page(
                unit,
                found,
                base=base,
                errors=messages(unit, error.fields),
                message=message,
                refused_filename=uploads.refused_filename,
                in_account=True,
            )
        return private(unit.redirect(f"{base}?sent=1#reply"))


@router.get(LIST + "/{number}/attachments/{attachment_id}")
def attachment_image(page: CustomerPage, number: str, attachment_id: RowId) -> Response:
    """A screenshot of the account's request, served as nothing but a PNG picture."""
    with page.open() as unit:
        attachment = unit.account_requests.attachment(unit.account, number, attachment_id)
        png = load_attachment(unit.session, unit.settings, unit.keyring, attachment)
    response = Response(png, media_type="image/png")
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return private(response)
