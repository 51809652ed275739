"""The agent desk at /desk (agents and admins, two-factor): the queue, a request with its
screenshots and the key read from them, one lookup, license and code pages, and the
actions an agent takes from a request. Rules live in ``desk.py`` and ``recovery.py``.

Every form is a plain POST with its CSRF field; a problem re-renders the page with the
message beside its field; a done action goes back to the request with a notice. No page
needs JavaScript.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.deps import MAX_ROW_ID, RowId
from licensor.errors import (
    CodeMalformed,
    DestinationNotOfRecord,
    FormInvalid,
    LicenseKeyMalformed,
    LicenseLinkedElsewhere,
    NotFound,
    OrderLinkedElsewhere,
    RequestHasNoAccount,
)
from licensor.models import RequestStatus, SupportRequest, Topic
from licensor.support.attaching import Attached, Attaching
from licensor.support.attachments import load_attachment
from licensor.support.desk import ASSIGNEES, CANNED_REPLIES, SETTABLE, Desk, QueueFilter
from licensor.support.recovery import AFTER_SEND, Recovery
from licensor.web.access import StaffPage
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

PROBLEMS = {
    **FIELD_MESSAGES,
    "status_invalid": N_("Choose one of the statuses offered."),
    "canned_unknown": N_("Choose one of the replies offered."),
    "body_too_long": N_("Use at most 10,000 characters."),
    "reply_carries_code": N_(
        "A reply cannot carry an activation code: use Send the activation code, which "
        "sends it only to an email address of record and audits it."
    ),
    "note_carries_code": N_(
        "A note cannot carry an activation code: the thread is not encrypted. Name the "
        "code by its license's public ID instead."
    ),
    "carries_license_key": N_(
        "This cannot carry a license key: the thread is not encrypted. Name the license "
        "by its public ID instead."
    ),
    "license_key_malformed": N_(
        "This is not a valid license key: its check value does not match. Check each digit."
    ),
    "license_key_unknown": N_("No license has this key."),
    "no_screenshot": N_("This request has no screenshot to read a key from."),
    "code_is_blocked": N_("This activation code is blocked."),
    "attach_already_asked": N_(
        "This is already waiting for its owner's confirmation or a second staff member's approval."
    ),
    "approval_by_asker": N_(
        "You asked for this: another staff member must approve it, or its owner confirm it."
    ),
    "approval_by_receiver": N_("The codes would join your own account: ask another staff member."),
    "approval_confirmed": N_("Its owner has already confirmed it."),
    "approval_approved": N_("Another staff member has already approved it."),
    "approval_declined": N_(
        "Its owner answered that they did not ask for it: it cannot be approved."
    ),
    "approval_expired": N_(
        "Nobody confirmed or approved it in time: ask again if it is still needed."
    ),
}

TOPICS = {
    Topic.RECOVER_CARD_CODE: N_("Recover an activation code from a printed card"),
    Topic.RECOVER_ONLINE_CODE: N_("Recover an activation code bought online"),
    Topic.MISSING_PURCHASE: N_("A purchase missing from My Account"),
    Topic.OTHER: N_("Other"),
}
STATUSES = {
    RequestStatus.NEW: N_("New"),
    RequestStatus.OPEN: N_("Open"),
    RequestStatus.WAITING: N_("Waiting on the customer"),
    RequestStatus.SOLVED: N_("Solved"),
}
NOTICES = {
    "assigned": N_("The request is assigned to you."),
    "status": N_("The status was changed."),
    "replied": N_("Your reply was sent to the request's email address."),
    "noted": N_("The internal note was added. The customer does not see it."),
    "code_sent": N_("The activation code was sent. The audit log has the disclosure."),
    "attached": N_("Attached to the customer's account."),
    "attach_asked": N_(
        "Nothing has moved yet: it is someone else's of record. Its owner was asked by mail "
        "to confirm, or another staff member can approve it below."
    ),
    "attach_asked_staff": N_(
        "Nothing has moved yet: nobody of record can confirm it, so another staff member "
        "must approve it below."
    ),
    "approved": N_("Approved: attached to the customer's account, and its owner told."),
    "released": N_("The seats were released."),
    "replaced": N_(
        "The code is blocked and its replacement issued. Send the replacement from its page."
    ),
}


def _problems(unit: PageUnit, fields: dict[str, str], form: str = "") -> dict[str, str]:
    """Messages by field; ``form`` prefixes the names where one page has several forms."""
    return unit.field_messages(fields, PROBLEMS, form)


def _desk(unit: PageUnit) -> Desk:
    return unit.desk


def _recovery(unit: PageUnit) -> Recovery:
    return unit.recovery


def _attaching(unit: PageUnit) -> Attaching:
    return unit.attaching


def _render(unit: PageUnit, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return unit.render(template, status=status, topics=TOPICS, statuses=STATUSES, **context)


def _back_to(number: str, done: str) -> str:
    return f"/desk/requests/{number}?{urlencode({'done': done})}"


# --- the queue ------------------------------------------------------------------------------


@router.get("/desk", response_class=HTMLResponse)
def queue(
    request: Request,
    staff: StaffPage,
    status: str = "",
    topic: str = "",
    assignee: str = "all",
    q: str = "",
    page: int = 1,
) -> Response:
    with staff.open() as unit:
        wanted = QueueFilter(
            status=status if status in STATUSES else "",
            topic=topic if topic in TOPICS else "",
            assignee=assignee if assignee in ASSIGNEES else "all",
            q=q[:200],
            page=page,
        )
        found = _desk(unit).queue(unit.account, wanted)

        def page_link(number: int, **changes: str) -> str:
            values = {
                "status": wanted.status,
                "topic": wanted.topic,
                "assignee": wanted.assignee,
                "q": wanted.q,
                "page": str(number),
                **changes,
            }
            return "/desk?" + urlencode({k: v for k, v in values.items() if v})

        return _render(unit, "desk/queue.html", wanted=wanted, found=found, link=page_link)


# --- one request ----------------------------------------------------------------------------


def _request_page(
    unit: PageUnit,
    support_request: SupportRequest,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    desk = _desk(unit)
    recovery = _recovery(unit)
    account = recovery.customer_account(support_request)
    return _render(
        unit,
        "desk/request.html",
        status=status,
        request_row=support_request,
        thread=desk.thread(support_request),
        screenshots=desk.screenshots(support_request),
        account=account,
        lookup=recovery.lookup(support_request.order_number)
        if support_request.order_number.strip()
        else None,
        approvals=_attaching(unit).approvals.rows(support_request),
        canned=CANNED_REPLIES,
        settable=SETTABLE,
        errors=errors or {},
        values=values or {},
        notice=notice,
    )


@router.get("/desk/requests/{number}", response_class=HTMLResponse)
def request_page(request: Request, page: StaffPage, number: str, done: str = "") -> Response:
    with page.open() as unit:
        support_request = _desk(unit).open(unit.account, number)
        notice = unit._(NOTICES[done]) if done in NOTICES else None
        return _request_page(unit, support_request, notice=notice)


@router.post("/desk/requests/{number}/key", response_class=HTMLResponse)
def confirm_key(
    request: Request, page: StaffPage, number: str, license_key: Field = ""
) -> Response:
    """A key an agent read by eye from the screenshot: checked, recorded, looked up."""
    with page.open() as unit:
        desk = _desk(unit)
        support_request = desk.request(number, lock=True)
        try:
            license = desk.confirm_key(unit.account, support_request, license_key)
        except FormInvalid as error:
            return _request_page(
                unit,
                support_request,
                422,
                errors=_problems(unit, error.fields),
                values={"license_key": license_key},
            )
        return unit.redirect(f"/desk/licenses/{license.public_id}?request={support_request.number}")


@router.get("/desk/attachments/{attachment_id}")
def screenshot(request: Request, web: Pages, page: StaffPage, attachment_id: RowId) -> Response:
    with page.open() as unit:
        attachment = _desk(unit).attachment(attachment_id)
    png = load_attachment(web.settings, web.keyring, attachment)
    return Response(
        png,
        media_type="image/png",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Disposition": 'inline; filename="screenshot.png"',
        },
    )


@router.post("/desk/requests/{number}/assign")
def assign(request: Request, web: Pages, page: StaffPage, number: str) -> Response:
    with page.open() as unit:
        desk = _desk(unit)
        desk.assign_to_me(unit.account, desk.request(number, lock=True))
        return unit.redirect(_back_to(number, "assigned"))


@router.post("/desk/requests/{number}/status", response_class=HTMLResponse)
def set_status(request: Request, page: StaffPage, number: str, status: Field = "") -> Response:
    with page.open() as unit:
        desk = _desk(unit)
        support_request = desk.request(number, lock=True)
        try:
            desk.set_status(unit.account, support_request, status)
        except FormInvalid as error:
            return _request_page(unit, support_request, 422, errors=_problems(unit, error.fields))
        return unit.redirect(_back_to(number, "status"))


@router.post("/desk/requests/{number}/reply", response_class=HTMLResponse)
def reply(
    request: Request,
    page: StaffPage,
    number: str,
    body: Field = "",
    canned: Field = "",
    status: Field = "",
) -> Response:
    with page.open() as unit:
        desk = _desk(unit)
        support_request = desk.request(number, lock=True)
        try:
            desk.reply(unit.account, support_request, body=body, canned=canned, status=status)
        except FormInvalid as error:
            return _request_page(
                unit,
                support_request,
                422,
                errors=_problems(unit, error.fields),
                values={"body": body, "canned": canned},
            )
        return unit.redirect(_back_to(number, "replied"))


@router.post("/desk/requests/{number}/note", response_class=HTMLResponse)
def note(request: Request, web: Pages, page: StaffPage, number: str, note: Field = "") -> Response:
    with page.open() as unit:
        desk = _desk(unit)
        support_request = desk.request(number, lock=True)
        try:
            desk.note(unit.account, support_request, note)
        except FormInvalid as error:
            fields = {"note": error.fields.get("body", "required")}
            return _request_page(
                unit, support_request, 422, errors=_problems(unit, fields), values={"note": note}
            )
        return unit.redirect(_back_to(number, "noted"))


# --- lookup, licenses and codes -------------------------------------------------------------


def _context_request(unit: PageUnit, number: str) -> SupportRequest | None:
    if not number.strip():
        return None
    try:
        return _desk(unit).request(number)
    except NotFound:
        return None


@router.get("/desk/lookup", response_class=HTMLResponse)
def lookup(request: Request, web: Pages, page: StaffPage, q: str = "") -> Response:
    number = request.query_params.get("request", "")
    with page.open() as unit:
        context_request = _context_request(unit, number)
        error = None
        found = None
        try:
            found = _recovery(unit).lookup(q[:200])
        except CodeMalformed:
            error = unit._(
                "This looks like an activation code, but its check value does not match: "
                "check it for typing mistakes."
            )
        except LicenseKeyMalformed:
            error = unit._(
                "This looks like a license key, but its check value does not match: "
                "check each digit."
            )
        return _render(
            unit,
            "desk/lookup.html",
            status=200 if error is None else 422,
            q=q,
            found=found,
            error=error,
            request_row=context_request,
        )


def _license_page(
    unit: PageUnit,
    public_id: str,
    number: str,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
) -> HTMLResponse:
    recovery = _recovery(unit)
    detail = recovery.license_detail(public_id)
    context_request = _context_request(unit, number)
    code = detail.license.activation_code
    return _render(
        unit,
        "desk/license.html",
        status=status,
        detail=detail,
        request_row=context_request,
        code_detail=recovery.code_detail(code.id) if code else None,
        destinations=recovery.destinations(context_request, code)
        if context_request and code
        else [],
        account=recovery.customer_account(context_request) if context_request else None,
        after_send=AFTER_SEND,
        errors=errors or {},
        error=error,
    )


@router.get("/desk/licenses/{public_id}", response_class=HTMLResponse)
def license_page(request: Request, web: Pages, page: StaffPage, public_id: str) -> Response:
    with page.open() as unit:
        return _license_page(unit, public_id, request.query_params.get("request", ""))


def _code_page(
    unit: PageUnit,
    code_id: int,
    number: str,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    recovery = _recovery(unit)
    detail = recovery.code_detail(code_id)
    context_request = _context_request(unit, number)
    return _render(
        unit,
        "desk/code.html",
        status=status,
        code_detail=detail,
        request_row=context_request,
        destinations=recovery.destinations(context_request, detail.code) if context_request else [],
        account=recovery.customer_account(context_request) if context_request else None,
        after_send=AFTER_SEND,
        errors=errors or {},
        error=error,
        notice=notice,
    )


@router.get("/desk/codes/{code_id}", response_class=HTMLResponse)
def code_page(
    request: Request, web: Pages, page: StaffPage, code_id: RowId, done: str = ""
) -> Response:
    with page.open() as unit:
        notice = unit._(NOTICES[done]) if done in NOTICES else None
        return _code_page(unit, code_id, request.query_params.get("request", ""), notice=notice)


# --- actions from a request -----------------------------------------------------------------


def _form_id(text: str) -> int:
    """A row id posted by a desk form (code, order, license, seat); not a number, or none
    the database could hold: 404."""
    try:
        value = int(text)
    except ValueError:
        raise NotFound() from None
    if not 1 <= value <= MAX_ROW_ID:
        raise NotFound()
    return value


@router.post("/desk/requests/{number}/send-code", response_class=HTMLResponse)
def send_code(
    request: Request,
    page: StaffPage,
    number: str,
    code_id: Field = "",
    destination: Field = "",
    reason: Field = "",
    then: Field = "",
    message: Field = "",
) -> Response:
    with page.open() as unit:
        support_request = _desk(unit).request(number, lock=True)
        code = _form_id(code_id)
        try:
            _recovery(unit).send_code(
                unit.account,
                support_request,
                code,
                destination=destination,
                reason=reason,
                then=then,
                message=message,
            )
        except FormInvalid as error:
            return _code_page(
                unit, code, number, 422, errors=_problems(unit, error.fields, "send_")
            )
        except DestinationNotOfRecord:
            return _code_page(
                unit,
                code,
                number,
                422,
                errors={"send_destination": unit._(DestinationNotOfRecord.title)},
            )
        return unit.redirect(_back_to(number, "code_sent"))


def _after_attach(number: str, attached: Attached) -> str:
    if attached.asked is None:
        return _back_to(number, "attached")
    done = "attach_asked" if attached.asked.owner_email else "attach_asked_staff"
    return _back_to(number, done) + "#approvals"


@router.post("/desk/requests/{number}/attach-order", response_class=HTMLResponse)
def attach_order(
    request: Request,
    web: Pages,
    page: StaffPage,
    number: str,
    order_id: Field = "",
    reason: Field = "",
) -> Response:
    with page.open() as unit:
        desk = _desk(unit)
        support_request = desk.request(number, lock=True)
        try:
            attached = _attaching(unit).attach_order(
                unit.account, support_request, _form_id(order_id), reason=reason
            )
        except FormInvalid as error:
            return _request_page(
                unit, support_request, 422, errors=_problems(unit, error.fields, "order_")
            )
        except (RequestHasNoAccount, OrderLinkedElsewhere) as error:
            return _request_page(
                unit, support_request, 409, errors={"order_attach": unit._(error.title)}
            )
        if attached.codes_elsewhere:
            return _request_page(
                unit,
                support_request,
                notice=unit._(
                    "The order is attached. {count} of its codes belong to another account "
                    "and were not moved."
                ).format(count=attached.codes_elsewhere),
            )
        return unit.redirect(_after_attach(number, attached))


@router.post("/desk/requests/{number}/attach-code", response_class=HTMLResponse)
def attach_code(
    request: Request,
    web: Pages,
    page: StaffPage,
    number: str,
    code_id: Field = "",
    reason: Field = "",
) -> Response:
    with page.open() as unit:
        support_request = _desk(unit).request(number, lock=True)
        code = _form_id(code_id)
        try:
            attached = _attaching(unit).attach_code(
                unit.account, support_request, code, reason=reason
            )
        except FormInvalid as error:
            problems = _problems(unit, error.fields, "attach_")
            return _code_page(
                unit, code, number, 422, errors=problems, error=problems.get("attach_attach")
            )
        except (RequestHasNoAccount, LicenseLinkedElsewhere) as error:
            return _code_page(unit, code, number, 409, error=unit._(error.title))
        return unit.redirect(_after_attach(number, attached))


@router.post("/desk/requests/{number}/approvals/{approval_id}", response_class=HTMLResponse)
def approve(
    request: Request,
    web: Pages,
    page: StaffPage,
    number: str,
    approval_id: RowId,
    reason: Field = "",
) -> Response:
    """A second staff member approves an attachment another one asked for."""
    with page.open() as unit:
        support_request = _desk(unit).request(number, lock=True)
        try:
            _attaching(unit).approve(unit.account, support_request, approval_id, reason=reason)
        except FormInvalid as error:
            return _request_page(
                unit,
                support_request,
                422,
                errors=_problems(unit, error.fields, f"approve{approval_id}_"),
            )
        except (OrderLinkedElsewhere, LicenseLinkedElsewhere) as error:
            return _request_page(
                unit,
                support_request,
                409,
                errors={f"approve{approval_id}_reason": unit._(error.title)},
            )
        return unit.redirect(_back_to(number, "approved"))


@router.post("/desk/requests/{number}/release", response_class=HTMLResponse)
def release(
    request: Request,
    web: Pages,
    page: StaffPage,
    number: str,
    license_id: Field = "",
    activation_id: Field = "all",
    reason: Field = "",
) -> Response:
    with page.open() as unit:
        support_request = _desk(unit).request(number, lock=True)
        recovery = _recovery(unit)
        license_number = _form_id(license_id)
        seat = None if activation_id == "all" else _form_id(activation_id)
        try:
            recovery.release(
                unit.account, support_request, license_number, activation_id=seat, reason=reason
            )
        except FormInvalid as error:
            license = recovery.license_by_id(license_number)
            return _license_page(
                unit,
                license.public_id,
                number,
                422,
                errors=_problems(unit, error.fields, "release_"),
            )
        return unit.redirect(_back_to(number, "released"))


@router.post("/desk/requests/{number}/replace-code", response_class=HTMLResponse)
def replace_code(
    request: Request,
    web: Pages,
    page: StaffPage,
    number: str,
    code_id: Field = "",
    reason: Field = "",
) -> Response:
    with page.open() as unit:
        support_request = _desk(unit).request(number, lock=True)
        code = _form_id(code_id)
        try:
            replacement = _recovery(unit).block_and_replace(
                unit.account, support_request, code, reason=reason
            )
        except FormInvalid as error:
            return _code_page(
                unit, code, number, 422, errors=_problems(unit, error.fields, "block_")
            )
        return unit.redirect(f"/desk/codes/{replacement.id}?request={number}&done=replaced")
