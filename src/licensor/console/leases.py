"""A floating license's leases on the console's license page: who holds each, since and
until when, and a form that frees one with a reason (staff: the rules and the audit row
are ``licensing/lease_actions.py``'s, which ``licensor licenses release-lease`` calls too)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from licensor.console.codes import PROBLEMS, Field, _license_or_404, license_page
from licensor.errors import FormInvalid
from licensor.licensing.lease_actions import LeaseActions
from licensor.support.views.desk_pages import form_id
from licensor.web.access import StaffPage

router = APIRouter(include_in_schema=False)


@router.post("/console/licenses/{public_id}/leases/free", response_class=HTMLResponse)
def free_lease(
    page: StaffPage, public_id: str, lease_id: Field = "", reason: Field = ""
) -> Response:
    """Free one lease; the device's next heartbeat is refused."""
    with page.open() as unit:
        public_id = _license_or_404(unit, public_id)
        lease = form_id(lease_id)
        try:
            freed = unit.service(LeaseActions).free_by_staff(
                public_id, lease_id=lease, reason=reason, actor=unit.actor
            )
        except FormInvalid as error:
            messages = unit.field_messages(error.fields, PROBLEMS, f"lease_{lease}_")
            return license_page(unit, public_id, 422, errors=messages)
        done = "lease_freed" if freed else "lease_gone"
        return unit.redirect(f"/console/licenses/{quote(public_id, safe='')}?done={done}")
