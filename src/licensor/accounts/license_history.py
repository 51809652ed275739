"""What happened to a license, for its page in My Account: activations and releases (from
its seats), and from the audit trail its joining the account, its code recovered (the
order lookup, support) and replaced. Each entry has its date; the newest comes first.

A license may have had several codes (each replacement hands it on), so the trail is
read for all of them: the replacements are filed under the license and name the code
each one blocked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from licensor.accounts.service import mask_email
from licensor.models import Activation, ActivationCode, AuditEvent, Device, License, Order

LINKED = "accounts.license_linked"
CODE_SENT = "support.code_sent"
REPLACED = "licensing.code_replaced"
BLOCKED = "licensing.code_blocked"
ORDER_LOOKUP = "store.order_lookup"
ORDER_JOINED = "accounts.order_joined"  # accounts/purchases.py: its codes came with it


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened. ``kind`` is ``activated``, ``released``, ``linked``,
    ``order_joined``, ``code_sent``, ``order_lookup``, ``replaced`` or ``blocked``;
    ``device`` names the device of a seat; ``how`` says who or which way (``device``,
    ``account``, ``support``; a link's ``app``, ``web``, ``device_code``; a lookup's
    ``store`` or ``partner``); ``detail`` is a masked address or an order's number."""

    at: datetime
    kind: str
    device: str | None = None
    how: str | None = None
    detail: str | None = None


def _who(actor_or_releaser: str | None) -> str:
    """How a page names who acted: the device, the owner, support, or the system."""
    value = actor_or_releaser or ""
    if value == "device":
        return "device"
    if value in ("account", "owner") or value.startswith("account:"):
        return "account"
    if value.startswith("agent:"):
        return "support"
    return "system"


def license_history(
    session: Session,
    license: License,
    code: ActivationCode,
    seats: Sequence[Activation],
    name_of: Callable[[Device], str],
) -> list[HistoryEntry]:
    """The license's history, newest first; ``seats`` are all of its activations, read
    with their devices, each named by ``name_of`` (``licensing.seats.seat_device_name``
    for the viewer)."""
    entries: list[HistoryEntry] = []
    for seat in seats:
        name = name_of(seat.device)
        entries.append(HistoryEntry(seat.activated_at, "activated", device=name))
        if seat.released_at is not None:
            how = _who(seat.released_by)
            entries.append(HistoryEntry(seat.released_at, "released", device=name, how=how))

    replaced = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == REPLACED,
            AuditEvent.subject_type == "license",
            AuditEvent.subject_id == license.id,
        )
    ).all()
    code_ids = {code.id} | {int(event.details["code_id"]) for event in replaced}
    on_codes = and_(
        AuditEvent.subject_type == "activation_code", AuditEvent.subject_id.in_(code_ids)
    )
    on_order = and_(
        AuditEvent.action.in_([ORDER_LOOKUP, ORDER_JOINED]),
        AuditEvent.subject_type == "order",
        AuditEvent.subject_id == code.order_id,
    )
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action.in_([LINKED, CODE_SENT, BLOCKED, ORDER_LOOKUP, ORDER_JOINED]),
            or_(on_codes, on_order) if code.order_id is not None else on_codes,
        )
    ).all()
    replaced_codes = {int(event.details["code_id"]) for event in replaced}
    for event in replaced:
        entries.append(HistoryEntry(event.occurred_at, "replaced", how=_who(event.actor)))
    for event in events:
        details = event.details or {}
        if event.action == LINKED:
            entries.append(HistoryEntry(event.occurred_at, "linked", how=details.get("via")))
        elif event.action == CODE_SENT:
            to = details.get("to")
            masked = mask_email(to) if isinstance(to, str) and to else None
            entries.append(HistoryEntry(event.occurred_at, "code_sent", detail=masked))
        elif event.action == ORDER_LOOKUP and details.get("matched"):
            # A store order's confirmation is sent again; a partner's points to the partner.
            order = session.get(Order, code.order_id)
            where = "partner" if order is not None and order.partner_id is not None else "store"
            entries.append(HistoryEntry(event.occurred_at, "order_lookup", how=where))
        elif event.action == ORDER_JOINED:
            number = details.get("number")
            detail = number if isinstance(number, str) else None
            entries.append(HistoryEntry(event.occurred_at, "order_joined", detail=detail))
        elif event.action == BLOCKED and event.subject_id not in replaced_codes:
            entries.append(HistoryEntry(event.occurred_at, "blocked", how=_who(event.actor)))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries
