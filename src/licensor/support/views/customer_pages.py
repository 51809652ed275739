"""What the customer's support pages share: their labels and messages, a request's
thread as the customer reads it, and the machinery of forms that carry screenshots.

Uploads are bounded before they are read: the address's rate limit first, then the body's
Content-Length, then at most MAX_FILE_BYTES + 1 bytes of each file; and checked before
the transaction opens (``uploads.check_uploads``). The form is parsed once, on the event
loop, and CSRF is checked from it in the route before any image is decoded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from licensor.deps import client_address, rate_limited
from licensor.errors import LengthRequired, UploadTooLarge
from licensor.models import Account, Attachment, Author, RequestStatus, SupportRequest, Topic
from licensor.ratelimit import enforce
from licensor.support.proofs import MAX_PROOF_BYTES
from licensor.support.service import PROOF, SCREENSHOT
from licensor.support.updates import customer_updates
from licensor.support.uploads import (
    MAX_FILE_BYTES,
    MAX_FILES,
    REFUSALS,
    CheckedUploads,
    Upload,
    check_uploads,
    read_upload,
)
from licensor.web.access import Page, page_for
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import SIGNED_IN, PageUnit, Web

TOPICS = (Topic.RECOVER_CARD_CODE, Topic.RECOVER_ONLINE_CODE, Topic.MISSING_PURCHASE, Topic.OTHER)
TOPIC_LABELS: dict[str, str] = {
    Topic.RECOVER_CARD_CODE: N_("Recover an activation code from a printed card"),
    Topic.RECOVER_ONLINE_CODE: N_("Recover an activation code bought online"),
    Topic.MISSING_PURCHASE: N_("A purchase is missing from My Account"),
    Topic.OTHER: N_("Something else"),
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
        "Attach the screenshot of the License details window, or the license proof the app "
        "saves: it is how we find your code."
    ),
    "proof_too_large": N_("This is not a license proof: a proof is under 4 KB of text."),
    "message_too_long": N_("Use at most 10,000 characters."),
    "order_number_too_long": N_("Use at most 60 characters."),
    **{refusal.code: refusal.title for refusal in REFUSALS},
}

# Every file at its largest, the text fields, and the multipart framing.
MAX_BODY_BYTES = MAX_FILES * MAX_FILE_BYTES + 512 * 1024
# More parts than files allowed, so that a fourth screenshot gets our own message.
MAX_FILE_PARTS = 10
MAX_FIELDS = 30


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


def posted_form(request: Request) -> FormData:
    """The form ``_support_web`` parsed (empty for any other request)."""
    form: FormData | None = getattr(request.state, "form_cache", None)
    return form if form is not None else FormData()


def text_field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def posted_uploads(form: FormData) -> CheckedUploads:
    """The screenshots of the form, read (bounded) and checked; the spooled files closed."""
    files = [value for value in form.getlist(SCREENSHOT) if isinstance(value, UploadFile)]
    try:
        uploads: list[Upload] = [read_upload(file.filename, file.file) for file in files]
    finally:
        for file in files:
            file.file.close()
    return check_uploads(uploads)


def posted_proof(form: FormData) -> str:
    """The license proof of the form: its file (read no further than shows it is too
    large for one), else the pasted text; bytes that are not UTF-8 make a malformed proof."""
    upload = form.get(PROOF)
    if isinstance(upload, UploadFile):
        try:
            data = upload.file.read(MAX_PROOF_BYTES + 1)
        finally:
            upload.file.close()
        if data.strip():
            return data.decode("utf-8", errors="replace")
    return text_field(form, "proof_text")


def messages(unit: PageUnit, fields: dict[str, str]) -> dict[str, str]:
    """A service's field problems as the customer's pages say them."""
    return unit.field_messages(fields, MESSAGES)


def customer(unit: PageUnit) -> Account | None:
    """The signed-in customer, if any."""
    return unit.visitor.account if unit.visitor.signed_in else None


def actor(request: Request, account: Account | None) -> str:
    """Who the audit trail names for a customer's form."""
    return f"account:{account.id}" if account is not None else f"web:{client_address(request)}"


def private(response: Response) -> Response:
    """A page behind a mailed link: the link is the key to the request, so the answer
    stays out of caches and Referer headers."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# The customer sees their own messages and support's replies; never internal notes or
# the desk's records of its actions (only what ``updates.py`` makes of them).
VISIBLE_AUTHORS = (Author.CUSTOMER, Author.AGENT)


def thread_page(
    unit: PageUnit,
    support_request: SupportRequest,
    *,
    base: str,
    errors: dict[str, str] | None = None,
    message: str = "",
    refused_filename: str = "",
    sent: bool = False,
    in_account: bool = False,
) -> Response:
    """A request as its customer reads it (behind its follow link, or in My Account at
    ``base``): status, what support did, the visible thread and the reply form."""
    thread = [
        entry
        for entry in unit.support.customer_thread(support_request)
        if entry.author in VISIBLE_AUTHORS
    ]
    visible = {entry.id for entry in thread}
    attachments: dict[int | None, list[Attachment]] = {}
    for attachment in support_request.attachments:
        if attachment.message_id in visible:
            attachments.setdefault(attachment.message_id, []).append(attachment)
    return private(
        unit.render(
            "support/request.html",
            status=422 if errors else 200,
            support_request=support_request,
            topic_label=TOPIC_LABELS.get(support_request.topic, support_request.topic),
            status_label=STATUS_LABELS.get(support_request.status, support_request.status),
            updates=customer_updates(support_request),
            thread=thread,
            attachments=attachments,
            base=base,
            errors=errors or {},
            message=message,
            refused_filename=refused_filename,
            sent=sent,
            max_files=MAX_FILES,
            in_account=in_account,
        )
    )
