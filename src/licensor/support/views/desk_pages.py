"""What the desk's pages share: their labels and messages, and the three pages an action
goes back to when a form needs another look (a request, a license, a code).

Every form is a plain POST with its CSRF field; a problem re-renders the page with the
message beside its field; a done action goes back to the request with a notice
(``web/actions.py``). No page needs JavaScript.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query
from fastapi.responses import HTMLResponse

from licensor.deps import MAX_ROW_ID
from licensor.errors import NotFound
from licensor.licensing.staff_actions import StaffActions
from licensor.models import RequestStatus, SupportRequest, Topic
from licensor.support.desk.recovery import AFTER_SEND
from licensor.support.desk.replies import CANNED_REPLIES
from licensor.support.desk.requests import SETTABLE
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import PageUnit

# ``?request=``: the request a lookup, license or code page was opened from, whose actions
# it offers.
FromRequest = Annotated[str, Query(alias="request")]

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

# Why a license proof is not verified (support/proofs.py's verify_error), for agents.
PROOF_ERRORS = {
    "malformed": N_("It is not a license proof, or it was cut or edited."),
    "license_key_malformed": N_("Its license key fails the check value."),
    "unknown_license": N_("No license has its license key."),
    "public_id_mismatch": N_("Its public ID is not its license's."),
    "unknown_device": N_("No device with its fingerprint ever held a seat of the license."),
    "no_device_key": N_(
        "The device's seat has no key (an app older than license proofs): ask for a "
        "screenshot instead."
    ),
    "bad_signature": N_(
        "The signature does not verify with the key of the device's seat: it was edited, or "
        "signed elsewhere."
    ),
    "seat_released": N_(
        "The device that signed it no longer holds a seat of the license (it was freed): it "
        "proves nothing about who has the code now."
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
    "transfer_granted": N_("One more transfer is granted: a new device may now take a seat."),
    "replaced": N_(
        "The code is blocked and its replacement issued. Send the replacement from its page."
    ),
}


def render(unit: PageUnit, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A desk page, with the topics' and statuses' labels."""
    return unit.render(template, status=status, topics=TOPICS, statuses=STATUSES, **context)


def notice(unit: PageUnit, done: str) -> str | None:
    """What a done action (``?done=``) tells the agent, translated."""
    return unit._(NOTICES[done]) if done in NOTICES else None


def back_to(number: str, done: str) -> str:
    """The request's page, telling the agent what was done."""
    return f"/desk/requests/{number}?{urlencode({'done': done})}"


def form_id(text: str) -> int:
    """A row id posted by a desk form (code, order, license, seat); not a number, or none
    the database could hold: 404."""
    try:
        value = int(text)
    except ValueError:
        raise NotFound() from None
    if not 1 <= value <= MAX_ROW_ID:
        raise NotFound()
    return value


def context_request(unit: PageUnit, number: str) -> SupportRequest | None:
    """The request a license or code page was opened from (``?request=``), if any."""
    if not number.strip():
        return None
    try:
        return unit.desk.request(number)
    except NotFound:
        return None


def request_page(
    unit: PageUnit,
    support_request: SupportRequest,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    """A request with its screenshots, thread, the order it names and its questions."""
    desk = unit.desk
    named_order = support_request.order_number.strip()
    return render(
        unit,
        "desk/request.html",
        status=status,
        request_row=support_request,
        thread=desk.thread(support_request),
        screenshots=desk.screenshots(support_request),
        proofs=desk.proofs(support_request),
        proof_errors=PROOF_ERRORS,
        account=desk.customer_account(support_request),
        lookup=unit.desk_lookup.lookup(support_request.order_number) if named_order else None,
        approvals=unit.approvals.rows(support_request),
        canned=CANNED_REPLIES,
        settable=SETTABLE,
        errors=errors or {},
        values=values or {},
        notice=notice,
    )


def license_page(
    unit: PageUnit,
    public_id: str,
    number: str,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    """A license, its seats and its code, with the actions from the request ``number``."""
    lookup = unit.desk_lookup
    detail = lookup.license_detail(public_id)
    context = context_request(unit, number)
    code = detail.license.activation_code
    code_detail = lookup.code_detail(code.id) if code else None
    return render(
        unit,
        "desk/license.html",
        status=status,
        detail=detail,
        request_row=context,
        code_detail=code_detail,
        destinations=(
            unit.recovery.destinations(context, code_detail.code) if context and code_detail else []
        ),
        account=unit.desk.customer_account(context) if context else None,
        after_send=AFTER_SEND,
        errors=errors or {},
        error=None,
        notice=notice,
        transfers_left=unit.service(StaffActions).transfers_left(detail.license),
    )


def code_page(
    unit: PageUnit,
    code_id: int,
    number: str,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    """A code, its license, order and account, with the actions from the request
    ``number``."""
    detail = unit.desk_lookup.code_detail(code_id)
    context = context_request(unit, number)
    return render(
        unit,
        "desk/code.html",
        status=status,
        code_detail=detail,
        request_row=context,
        destinations=unit.recovery.destinations(context, detail.code) if context else [],
        account=unit.desk.customer_account(context) if context else None,
        after_send=AFTER_SEND,
        errors=errors or {},
        error=error,
        notice=notice,
    )
