"""What the desk did on a request, as the customer is told it: "We sent your activation
code to … on …" on the request's page, and by mail when no other mail of the action
reached the requester.

The desk records each action on the thread as an internal entry (``desk/thread.py``); the
customer never reads those entries, only these summaries of them, which name no code and
mask any address that is not the requester's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from licensor.accounts.service import mask_email
from licensor.dates import format_datetime
from licensor.models import Author, SupportRequest

if TYPE_CHECKING:
    from licensor.units import UnitOfWork

CODE_SENT = "support.code_sent"
SEATS_RELEASED = "support.seats_released"
CODE_REPLACED = "support.code_replaced"
ORDER_ATTACHED = "support.order_attached"
CODE_ATTACHED = "support.code_attached"
TOLD = (CODE_SENT, SEATS_RELEASED, CODE_REPLACED, ORDER_ATTACHED, CODE_ATTACHED)


@dataclass(frozen=True)
class CustomerUpdate:
    """One thing the desk did, as the requester may read it."""

    kind: str  # "code_sent", "seats_released", "code_replaced", "order_attached", ...
    at: datetime
    destination: str = ""  # where a code went: in full only when it is the requester's
    count: int = 0
    public_id: str = ""
    order: str = ""


def customer_updates(request: SupportRequest) -> list[CustomerUpdate]:
    """The desk's actions on the request (its thread loaded) the requester is told of,
    oldest first."""
    updates = []
    for message in request.messages:
        if message.author != Author.SYSTEM:
            continue
        action: dict[str, Any] = json.loads(message.body)
        if action.get("action") not in TOLD:
            continue
        updates.append(_update(request, action, message.created_at))
    return updates


def _update(request: SupportRequest, action: dict[str, Any], at: datetime) -> CustomerUpdate:
    kind = str(action["action"]).removeprefix("support.")
    to = str(action.get("to") or "")
    return CustomerUpdate(
        kind=kind,
        at=at,
        destination=shown_address(request, to) if to else "",
        count=int(action.get("seats_released") or action.get("codes_attached") or 0),
        public_id=str(action.get("public_id") or ""),
        order=str(action.get("order") or ""),
    )


def shown_address(request: SupportRequest, email: str) -> str:
    """An address as the requester sees it: their own in full, anyone else's masked."""
    return email if email == request.customer_email else mask_email(email)


def tell_requester(
    unit: UnitOfWork,
    request: SupportRequest,
    kind: str,
    *,
    told: set[str],
    **facts: Any,
) -> None:
    """Mail the requester what the desk just did, unless a mail of the action (``told``:
    the addresses it mailed) already reached them."""
    if request.customer_email in told:
        return
    unit.send_mail(
        request.customer_email,
        request.language,
        "support_update",
        kind=kind,
        number=request.number,
        name=request.customer_name,
        when=format_datetime(unit.now, request.language),
        **facts,
    )
