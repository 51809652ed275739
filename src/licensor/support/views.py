"""Support pages for customers: the request form, its confirmation, the follow page
(thread, screenshots, reply) behind the mailed link, and My Account's list of requests.

The form is two steps without JavaScript: ``/support`` asks the topic, ``/support?topic=``
shows the fields that topic needs. Uploads are bounded before they are read (the body's
Content-Length, then at most MAX_FILE_BYTES + 1 bytes of each file) and checked before the
transaction opens (``attachments.check_uploads``); the route then calls ``Support``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from licensor.deps import RowId, client_address, rate_limited
from licensor.errors import (
    FormInvalid,
    LicenseLinkedElsewhere,
    LicensorError,
    OrderLinkedElsewhere,
)
from licensor.models import Account, Attachment, Author, RequestStatus, Topic
from licensor.ratelimit import enforce
from licensor.support.attachments import (
    MAX_FILE_BYTES,
    MAX_FILES,
    REFUSALS,
    CheckedUploads,
    Upload,
    check_uploads,
    load_attachment,
    read_upload,
)
from licensor.support.service import (
    SCREENSHOT,
    TOPIC_FIELDS,
    RequestForm,
    Support,
    follow_path,
)
from licensor.web.access import Page, PublicPage, page_for
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import SIGNED_IN, PageUnit, Web

router = APIRouter(include_in_schema=False)

# Every file at its largest, the text fields, and the multipart framing.
MAX_BODY_BYTES = MAX_FILES * MAX_FILE_BYTES + 512 * 1024
# More parts than files allowed, so that a fourth screenshot gets our own message.
MAX_FILE_PARTS = 10
MAX_FIELDS = 30

TOPICS = (Topic.RECOVER_CARD_CODE, Topic.RECOVER_ONLINE_CODE, Topic.MISSING_PURCHASE, Topic.OTHER)
TOPIC_LABELS: dict[str, str] = {
    Topic.RECOVER_CARD_CODE: N_("Recover an activation code from a printed card"),
    Topic.RECOVER_ONLINE_CODE: N_("Recover an activation code bought online"),
    Topic.MISSING_PURCHASE: N_("A purchase is missing from My Account"),
    Topic.OTHER: N_("Something else"),
}
TOPIC_HINTS: dict[str, str] = {
    Topic.RECOVER_CARD_CODE: N_(
        "The card is lost, but the code was activated in the app: a screenshot of its "
        "License details window leads us to the code."
    ),
    Topic.RECOVER_ONLINE_CODE: N_(
        "You bought the code in our store and no longer have the confirmation email."
    ),
    Topic.MISSING_PURCHASE: N_(
        "You bought a code or a subscription, but My Account does not show it."
    ),
    Topic.OTHER: N_("Any other question about your licenses, devices or purchases."),
}
STATUS_LABELS: dict[str, str] = {
    RequestStatus.NEW: N_("Received"),
    RequestStatus.OPEN: N_("Being worked on"),
    RequestStatus.WAITING: N_("Waiting for your reply"),
    RequestStatus.SOLVED: N_("Solved"),
}
MESSAGES = {
    **FIELD_MESSAGES,
    "topic_required": N_("Choose what your request is about."),
    "screenshot_required": N_(
        "Attach the screenshot of the License details window: it is how we find your code."
    ),
    "message_too_long": N_("Use at most 10,000 characters."),
    "order_number_too_long": N_("Use at most 60 characters."),
    **{refusal.code: refusal.title for refusal in REFUSALS},
}
# The customer sees their own messages and support's replies; never internal notes or
# the desk's records of its actions.
VISIBLE_AUTHORS = (Author.CUSTOMER, Author.AGENT)


class UploadTooLarge(LicensorError):
    status = 413
    code = "upload_too_large"
    title = "The files are too large together: attach at most 3 screenshots of 5 MB each."


class LengthRequired(LicensorError):
    status = 411
    code = "length_required"
    title = "Send the form again from the support page."


async def _support_web(request: Request) -> AsyncIterator[Web]:
    """``Pages`` for forms with files: limited per address, then a bounded body, parsed
    once (CSRF is checked from it in the route) and its spooled files closed after."""
    web: Web = request.app.state.web
    if request.method != "POST":
        yield web
        return
    rule = web.rules["support"]
    if web.limiter.blocking:
        await run_in_threadpool(enforce, web.limiter, rule, client_address(request))
    else:
        enforce(web.limiter, rule, client_address(request))
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise LengthRequired()
    if int(length) > MAX_BODY_BYTES:
        raise UploadTooLarge()
    form = await request.form(max_files=MAX_FILE_PARTS, max_fields=MAX_FIELDS)
    request.state.form_cache = form
    try:
        yield web
    finally:
        await form.close()


SupportPages = Annotated[Web, Depends(_support_web)]
# Pages with the support form's own machinery (FastAPI runs it once a request).
SupportPage = Annotated[Page, Depends(page_for(None, _support_web))]
SupportCustomerPage = Annotated[Page, Depends(page_for(SIGNED_IN, _support_web))]
# Whoever holds a follow link reads the request: the token is long enough not to be
# guessed, and this limit per address keeps anyone from trying.
FOLLOW_LIMIT = [Depends(rate_limited("follow"))]


def _form(request: Request) -> FormData:
    form: FormData | None = getattr(request.state, "form_cache", None)
    return form if form is not None else FormData()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _uploads(form: FormData) -> CheckedUploads:
    """The screenshots of the form, read (bounded) and checked; the spooled files closed."""
    files = [value for value in form.getlist(SCREENSHOT) if isinstance(value, UploadFile)]
    try:
        uploads: list[Upload] = [read_upload(file.filename, file.file) for file in files]
    finally:
        for file in files:
            file.file.close()
    return check_uploads(uploads)


def _messages(unit: PageUnit, fields: dict[str, str]) -> dict[str, str]:
    return unit.field_messages(fields, MESSAGES)


def _support(unit: PageUnit) -> Support:
    return unit.support


def _customer(unit: PageUnit) -> Account | None:
    return unit.visitor.account if unit.visitor.signed_in else None


def _actor(request: Request, account: Account | None) -> str:
    return f"account:{account.id}" if account is not None else f"web:{client_address(request)}"


def _private(response: Response) -> Response:
    # The follow link is the key to the request: keep it out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _form_page(
    unit: PageUnit,
    form: RequestForm,
    errors: dict[str, str] | None = None,
    refused_filename: str = "",
    layout: str = "",
) -> Response:
    topic = form.topic if form.topic in TOPIC_FIELDS else None
    customer = _customer(unit)
    return unit.render(
        "support/form.html",
        status=422 if errors else 200,
        topics=TOPICS,
        topic_labels=TOPIC_LABELS,
        topic_hints=TOPIC_HINTS,
        topic=topic,
        fields=TOPIC_FIELDS[topic] if topic else None,
        form=form,
        errors=errors or {},
        refused_filename=refused_filename,
        account_email=customer.email if customer else None,
        max_files=MAX_FILES,
        layout="all" if layout == "all" or topic is None else "topic",
    )


# --- the form ---------------------------------------------------------------------------


@router.get("/support", response_class=HTMLResponse)
def support_form(request: Request, page: SupportPage, topic: str = "") -> Response:
    with page.open() as unit:
        customer = _customer(unit)
        return _form_page(unit, RequestForm(topic=topic, email=customer.email if customer else ""))


@router.post("/support", response_class=HTMLResponse)
def open_request(request: Request, web: SupportPages, page: SupportPage) -> Response:
    web.check_csrf(request)  # before any image is decoded
    posted = _form(request)
    form = RequestForm(
        topic=_text(posted, "topic"),
        name=_text(posted, "name"),
        email=_text(posted, "email"),
        purchase_date=_text(posted, "purchase_date"),
        order_number=_text(posted, "order_number"),
        subject=_text(posted, "subject"),
        message=_text(posted, "message"),
    )
    uploads = _uploads(posted)
    with page.open() as unit:
        customer = _customer(unit)
        try:
            opened = _support(unit).open_request(
                form,
                uploads,
                account=customer,
                language=unit.language,
                actor=_actor(request, customer),
            )
        except FormInvalid as error:
            return _form_page(unit, form, _messages(unit, error.fields), uploads.refused_filename)
        return unit.render(
            "support/sent.html",
            number=opened.number,
            email=customer.email if customer else form.email.strip(),
            signed_in=customer is not None,
        )


# --- following a request ----------------------------------------------------------------


def _request_page(
    unit: PageUnit,
    token: str,
    errors: dict[str, str] | None = None,
    message: str = "",
    refused_filename: str = "",
    sent: bool = False,
) -> Response:
    support = _support(unit)
    support_request = support.follow(token)
    thread = [
        entry
        for entry in support.customer_thread(support_request)
        if entry.author in VISIBLE_AUTHORS
    ]
    visible = {entry.id for entry in thread}
    attachments: dict[int | None, list[Attachment]] = {}
    for attachment in support_request.attachments:
        if attachment.message_id in visible:
            attachments.setdefault(attachment.message_id, []).append(attachment)
    return _private(
        unit.render(
            "support/request.html",
            status=422 if errors else 200,
            support_request=support_request,
            topic_label=TOPIC_LABELS.get(support_request.topic, support_request.topic),
            status_label=STATUS_LABELS.get(support_request.status, support_request.status),
            thread=thread,
            attachments=attachments,
            base=follow_path(token),
            errors=errors or {},
            message=message,
            refused_filename=refused_filename,
            sent=sent,
            max_files=MAX_FILES,
        )
    )


@router.get("/support/requests/{token}", response_class=HTMLResponse, dependencies=FOLLOW_LIMIT)
def follow_request(request: Request, page: SupportPage, token: str, sent: str = "") -> Response:
    with page.open() as unit:
        return _request_page(unit, token, sent=sent == "1")


@router.post("/support/requests/{token}", response_class=HTMLResponse, dependencies=FOLLOW_LIMIT)
def reply(request: Request, web: SupportPages, page: SupportPage, token: str) -> Response:
    web.check_csrf(request)
    posted = _form(request)
    message = _text(posted, "message")
    uploads = _uploads(posted)
    with page.open() as unit:
        support = _support(unit)
        try:
            support.reply(token, message, uploads, actor=_actor(request, _customer(unit)))
        except FormInvalid as error:
            return _request_page(
                unit, token, _messages(unit, error.fields), message, uploads.refused_filename
            )
        return _private(unit.redirect(f"{follow_path(token)}?sent=1#reply"))


@router.get("/support/requests/{token}/attachments/{attachment_id}", dependencies=FOLLOW_LIMIT)
def attachment_image(
    request: Request, web: SupportPages, page: SupportPage, token: str, attachment_id: RowId
) -> Response:
    """A screenshot of the request, to the holder of its link only; served so that no
    browser treats it as anything but a PNG picture."""
    with page.open() as unit:
        attachment = _support(unit).customer_attachment(token, attachment_id)
    png = load_attachment(web.settings, web.keyring, attachment)
    response = Response(png, media_type="image/png")
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return _private(response)


# --- an order's owner asked to confirm an attachment (support/approvals.py) ---------------


def _attach_page(
    unit: PageUnit,
    token: str,
    status: int = 200,
    *,
    outcome: str | None = None,
    question: object = None,
    error: str | None = None,
) -> Response:
    if question is None and outcome is None:
        question = unit.approvals.question(token)
        status = status if question is not None else 404
    return _private(
        unit.render(
            "support/attach_confirm.html",
            status=status,
            token=token,
            question=question,
            outcome=outcome,
            error=error,
        )
    )


@router.get("/support/confirm/{token}", response_class=HTMLResponse, dependencies=FOLLOW_LIMIT)
def attach_question(request: Request, page: PublicPage, token: str) -> Response:
    """The question only: opening the link (as mail scanners do) changes nothing."""
    with page.open() as unit:
        return _attach_page(unit, token)


@router.post("/support/confirm/{token}", response_class=HTMLResponse, dependencies=FOLLOW_LIMIT)
def attach_answer(
    request: Request,
    page: PublicPage,
    token: str,
    decision: Annotated[str, Form()] = "",
) -> Response:
    with page.open() as unit:
        attaching = unit.attaching
        question = attaching.approvals.question(token)
        if question is None:
            return _attach_page(unit, token, 400, outcome="gone")
        address = client_address(request)
        if decision == "confirm":
            try:
                attaching.confirm(token, address)
            except (OrderLinkedElsewhere, LicenseLinkedElsewhere) as error:
                return _attach_page(unit, token, 409, question=question, error=unit._(error.title))
            return _attach_page(unit, token, outcome="confirmed", question=question)
        if decision == "decline":
            attaching.approvals.answer(token, confirmed=False, address=address)
            return _attach_page(unit, token, outcome="declined", question=question)
        return _attach_page(unit, token, 422, question=question, error=unit._("Choose yes or no."))


# --- My Account -------------------------------------------------------------------------


@router.get("/account/support", response_class=HTMLResponse)
def account_requests(request: Request, web: SupportPages, page: SupportCustomerPage) -> Response:
    with page.open() as unit:
        return unit.render(
            "support/account_requests.html",
            support_requests=_support(unit).requests_of(unit.account),
            topic_labels=TOPIC_LABELS,
            status_labels=STATUS_LABELS,
        )
