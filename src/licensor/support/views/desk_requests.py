"""One request on the desk (/desk/requests/NUMBER): its page, its screenshots, and the
actions taken on it — a key read by eye, assignment, status, replies, notes, attaching an
order and approving what another agent asked. Rules live in ``support/desk/``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from licensor.deps import RowId
from licensor.errors import (
    LicenseLinkedElsewhere,
    OrderLinkedElsewhere,
    RequestHasNoAccount,
)
from licensor.support.attachments import load_attachment
from licensor.support.desk.attaching import Attached
from licensor.support.views.desk_pages import (
    PROBLEMS,
    back_to,
    form_id,
    notice,
    request_page,
)
from licensor.web.access import StaffPage
from licensor.web.actions import form_action

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


@router.get("/desk/requests/{number}", response_class=HTMLResponse)
def request_view(page: StaffPage, number: str, done: str = "") -> Response:
    with page.open() as unit:
        support_request = unit.desk.open(unit.account, number)
        return request_page(unit, support_request, notice=notice(unit, done))


@router.get("/desk/attachments/{attachment_id}")
def screenshot(page: StaffPage, attachment_id: RowId) -> Response:
    with page.open() as unit:
        attachment = unit.desk.attachment(attachment_id)
        png = load_attachment(unit.session, unit.settings, unit.keyring, attachment)
    return Response(
        png,
        media_type="image/png",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Disposition": 'inline; filename="screenshot.png"',
        },
    )


@router.post("/desk/requests/{number}/key", response_class=HTMLResponse)
def confirm_key(page: StaffPage, number: str, license_key: Field = "") -> Response:
    """A key an agent read by eye from the screenshot: checked, recorded, looked up."""
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        return form_action(
            unit,
            lambda: unit.desk.confirm_key(unit.account, support_request, license_key),
            done=lambda license: (
                f"/desk/licenses/{license.public_id}?request={support_request.number}"
            ),
            again=lambda status, errors: request_page(
                unit, support_request, status, errors=errors, values={"license_key": license_key}
            ),
            messages=PROBLEMS,
        )


@router.post("/desk/requests/{number}/assign")
def assign(page: StaffPage, number: str) -> Response:
    with page.open() as unit:
        desk = unit.desk
        desk.assign_to_me(unit.account, desk.request(number, lock=True))
        return unit.redirect(back_to(number, "assigned"))


@router.post("/desk/requests/{number}/status", response_class=HTMLResponse)
def set_status(page: StaffPage, number: str, status: Field = "") -> Response:
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        return form_action(
            unit,
            lambda: unit.desk.set_status(unit.account, support_request, status),
            done=back_to(number, "status"),
            again=lambda code, errors: request_page(unit, support_request, code, errors=errors),
            messages=PROBLEMS,
        )


@router.post("/desk/requests/{number}/reply", response_class=HTMLResponse)
def reply(
    page: StaffPage, number: str, body: Field = "", canned: Field = "", status: Field = ""
) -> Response:
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        return form_action(
            unit,
            lambda: unit.desk_replies.reply(
                unit.account, support_request, body=body, canned=canned, status=status
            ),
            done=back_to(number, "replied"),
            again=lambda code, errors: request_page(
                unit, support_request, code, errors=errors, values={"body": body, "canned": canned}
            ),
            messages=PROBLEMS,
        )


@router.post("/desk/requests/{number}/note", response_class=HTMLResponse)
def note(page: StaffPage, number: str, note: Field = "") -> Response:
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        return form_action(
            unit,
            lambda: unit.desk_replies.note(unit.account, support_request, note),
            done=back_to(number, "noted"),
            again=lambda code, errors: request_page(
                unit, support_request, code, errors=errors, values={"note": note}
            ),
            messages=PROBLEMS,
            renamed={"body": "note"},
        )


def after_attach(number: str, attached: Attached) -> str:
    """Back to the request: attached, or asked (then to its questions)."""
    if attached.asked is None:
        return back_to(number, "attached")
    done = "attach_asked" if attached.asked.owner_email else "attach_asked_staff"
    return back_to(number, done) + "#approvals"


@router.post("/desk/requests/{number}/attach-order", response_class=HTMLResponse)
def attach_order(
    page: StaffPage, number: str, order_id: Field = "", reason: Field = ""
) -> Response:
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)

        def done(attached: Attached) -> str | Response:
            if not attached.codes_elsewhere:
                return after_attach(number, attached)
            return request_page(
                unit,
                support_request,
                notice=unit.ngettext(
                    "The order is attached. One of its codes belongs to another account "
                    "and was not moved.",
                    "The order is attached. {count} of its codes belong to another account "
                    "and were not moved.",
                    attached.codes_elsewhere,
                ).format(count=attached.codes_elsewhere),
            )

        return form_action(
            unit,
            lambda: unit.attaching.attach_order(
                unit.account, support_request, form_id(order_id), reason=reason
            ),
            done=done,
            again=lambda code, errors: request_page(unit, support_request, code, errors=errors),
            messages=PROBLEMS,
            form="order_",
            refusals={RequestHasNoAccount: "order_attach", OrderLinkedElsewhere: "order_attach"},
        )


@router.post("/desk/requests/{number}/approvals/{approval_id}", response_class=HTMLResponse)
def approve(page: StaffPage, number: str, approval_id: RowId, reason: Field = "") -> Response:
    """A second staff member approves an attachment another one asked for."""
    form = f"approve{approval_id}_"
    with page.open() as unit:
        support_request = unit.desk.request(number, lock=True)
        return form_action(
            unit,
            lambda: unit.attaching.approve(
                unit.account, support_request, approval_id, reason=reason
            ),
            done=back_to(number, "approved"),
            again=lambda code, errors: request_page(unit, support_request, code, errors=errors),
            messages=PROBLEMS,
            form=form,
            refusals={
                OrderLinkedElsewhere: form + "reason",
                LicenseLinkedElsewhere: form + "reason",
            },
        )
