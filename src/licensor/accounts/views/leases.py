"""A floating license's leases on My Account's license page: which device holds each,
since and until when, and "Free this seat" for one (its next heartbeat is then refused).
The rules and the audit row are licensing/lease_actions.py's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from licensor.deps import MAX_ROW_ID
from licensor.errors import NotFound
from licensor.licensing.lease_actions import LeaseActions
from licensor.licensing.leases import is_floating
from licensor.web.access import CustomerPage
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

NOTICES = {
    "lease_freed": N_("The seat is free: another device can use the license now."),
    "lease_gone": N_("That seat was already free: nothing changed."),
}


def lease_section(unit: PageUnit, public_id: str, done: str = "") -> dict[str, Any]:
    """What the license page shows of a floating license: ``floating``, ``leases`` (who
    holds each), and the notice after one was freed."""
    license = unit.license_sharing.owned_license(unit.account, public_id)
    floating = is_floating(license)
    return {
        "floating": floating,
        "lease_seconds": license.plan.lease_seconds,
        "leases": unit.service(LeaseActions).holders(license) if floating else [],
        "lease_notice": unit._(NOTICES[done]) if done in NOTICES else None,
    }


@router.post("/account/licenses/{public_id}/leases/free")
def free_lease(
    page: CustomerPage, public_id: str, lease_id: Annotated[str, Form()] = ""
) -> Response:
    """The owner frees one lease of their floating license."""
    # Read as text: the page's CSRF check comes before any refusal of the field's shape.
    # ASCII and short: isdigit() alone takes "²" and 5,000 digits, which int() refuses.
    digits = lease_id.isascii() and lease_id.isdigit() and len(lease_id) <= 19
    lease = int(lease_id) if digits and 0 < int(lease_id) <= MAX_ROW_ID else None
    with page.open() as unit:
        if lease is None:
            raise NotFound()
        license = unit.license_sharing.owned_license(unit.account, public_id, lock=True)
        freed = unit.service(LeaseActions).free_by_owner(license, lease, account_id=unit.account.id)
        done = "lease_freed" if freed else "lease_gone"
        return unit.redirect(f"/account/licenses/{license.public_id}?done={done}")
