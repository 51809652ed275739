"""The events a vendor's endpoint can take, and ``emit``: the one way a service announces
one (docs/webhooks.md lists each event's data)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from licensor.clock import isoformat
from licensor.logging import current_request_id
from licensor.models import (
    License,
    Order,
    Plan,
    Subscription,
    WebhookDelivery,
    WebhookEndpoint,
)

if TYPE_CHECKING:
    from licensor.units import UnitOfWork

EVENTS = (
    "license.activated",
    "license.released",
    "license.recovered",
    "license.expiring",
    "license.expired",
    "license.reserve_added",
    "license.reserve_withdrawn",
    "code.blocked",
    "order.paid",
    "order.refunded",
    "subscription.renewed",
    "subscription.expired",
)

PAYLOAD_PURPOSE = b"webhook_payload"


def order_data(order: Order) -> dict[str, Any]:
    """An order as events name it: its number and what was paid, not who paid."""
    return {
        "number": order.number,
        "channel": str(order.channel),
        "total_cents": order.total_cents,
        "currency": order.currency,
    }


def subscription_data(subscription: Subscription, plan: str) -> dict[str, Any]:
    """A subscription as events name it."""
    return {
        "subscription_id": subscription.id,
        "plan": plan,
        "status": str(subscription.status),
        "current_period_end": isoformat(subscription.current_period_end),
    }


def released(unit: UnitOfWork, license_id: int, by: str) -> None:
    """``license.released`` for a seat of license ``license_id`` freed by ``by``."""
    public_id, plan = unit.session.execute(
        select(License.public_id, Plan.code)
        .join(Plan, Plan.id == License.plan_id)
        .where(License.id == license_id)
    ).one()
    emit(unit, "license.released", {"public_id": public_id, "plan": plan, "by": by})


def recovered(unit: UnitOfWork, channel: str, **ids: Any) -> None:
    """``license.recovered``: a lost code found again through ``channel``, one of the
    dashboard's recovery channels (console/figures.py), with the ids that say which."""
    emit(unit, "license.recovered", {"channel": channel, **ids})


def payload(event_type: str, timestamp: str, data: dict[str, Any]) -> str:
    """The body every delivery of an event carries, as the specification shapes it."""
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data})


def takers(unit: UnitOfWork, event_type: str) -> list[WebhookEndpoint]:
    """The enabled endpoints that take ``event_type``."""
    endpoints = unit.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.disabled_at.is_(None))
    ).all()
    return [item for item in endpoints if not item.events or event_type in item.events]


def emit(
    unit: UnitOfWork, event_type: str, data: dict[str, Any], *, once: str | None = None
) -> int:
    """Queue ``event_type`` for every enabled endpoint that takes it, in ``unit``'s
    transaction: the deliveries commit, or vanish, with the change. ``data`` holds ids
    the vendor can use, never an activation code or a license key. Returns how many.

    ``once`` names an event that must go out once whoever notices it (a scan): its
    ``webhook-id`` is derived from it, so a second emit for an endpoint is skipped."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}")
    body = payload(event_type, isoformat(unit.now) or "", data)
    queued = 0
    for endpoint in takers(unit, event_type):
        if once is None:
            message_id = f"msg_{uuid.uuid4().hex}"
        else:
            digest = hashlib.sha256(f"{endpoint.id}:{event_type}:{once}".encode())
            message_id = f"msg_{digest.hexdigest()[:32]}"
            taken = select(WebhookDelivery.id).where(WebhookDelivery.message_id == message_id)
            if unit.session.scalar(taken) is not None:
                continue
        unit.session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                message_id=message_id,
                event_type=event_type,
                payload_ciphertext=unit.keyring.encrypt(body, purpose=PAYLOAD_PURPOSE),
                created_at=unit.now,
                attempts=0,
                next_attempt_at=unit.now,
                request_id=current_request_id(),
            )
        )
        queued += 1
    return queued
