"""Paddle Billing's webhooks (docs/payments.md, "Paddle Billing").

Paddle signs each notification with the destination's secret: ``Paddle-Signature:
ts=<unix time>;h1=<hex HMAC-SHA256 of "<ts>:<raw body>">`` (several ``h1`` while a secret
is rotated). The HMAC is checked by Paddle's own library (paddle-python-sdk's
``PaddleSignature``); the timestamp against our clock, so a captured delivery cannot be
replayed later. Not its ``Verifier``: that compares with the wall clock rather than the
server's (which tests move), and an environment variable ``TEST_MODE`` turns its
timestamp check off.

``transaction.completed`` is a paid order. Its payload names the customer only by id
(``ctm_…``), so the checkout must pass the buyer's email (and name, language) in
``custom_data``: ``{"email": …, "name": …, "language": "it"}``. A refund is an
adjustment: ``adjustment.created`` or ``.updated`` with ``action`` ``refund`` and
``type`` ``full`` once ``approved`` (or a ``chargeback``) blocks the order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from paddle_billing.Logger import get_logger
from paddle_billing.Notifications import PaddleSignature, Secret

from licensor.errors import FulfilmentWebhookRejected, ValidationFailed
from licensor.store.fulfilment.core import (
    Ignored,
    ProviderEvent,
    Refund,
    Sale,
    SoldItem,
    cents,
)

SIGNATURE_HEADER = "paddle-signature"

# The library logs every check at INFO on a logger whose level it sets itself; our own
# records (store.fulfilment_*) say what happened, so only its warnings get through.
get_logger().setLevel(logging.WARNING)


def verify(
    body: bytes, headers: Mapping[str, str], secret: str, *, now: datetime, tolerance: int
) -> None:
    """Refuse a delivery not signed with ``secret`` or signed too long ago (or ahead)."""
    header = headers.get(SIGNATURE_HEADER, "")
    try:
        timestamp, _ = PaddleSignature.parse(header)
        text = body.decode("utf-8")
    except (ValueError, UnicodeDecodeError) as error:
        raise FulfilmentWebhookRejected(
            "the Paddle-Signature header is missing or malformed"
        ) from error
    if not header or abs(now.timestamp() - timestamp) > tolerance:
        raise FulfilmentWebhookRejected("the Paddle-Signature timestamp is not recent")
    try:
        matches = PaddleSignature().verify(header, text, Secret(secret))
    except TypeError:  # an h1 of other than ASCII characters, which compare_digest refuses
        matches = False
    if not matches:
        raise FulfilmentWebhookRejected("the Paddle-Signature does not match the body")


def read(body: bytes) -> list[ProviderEvent]:
    """The delivery's one event, as the fulfilment core acts on it."""
    try:
        event = json.loads(body)
        event_id, event_type = str(event["event_id"]), str(event["event_type"])
        data = event["data"]
        if event_type == "transaction.completed":
            if str(data.get("origin", "")).startswith("subscription_"):
                # A subscription's renewal (or change) in Paddle: its first transaction
                # made the order and its codes; renewals would make new codes each time.
                return [Ignored(event_id, event_type, f"origin {data['origin']}")]
            return [_sale(event_id, event_type, data)]
        if event_type in ("adjustment.created", "adjustment.updated"):
            return [_adjustment(event_id, event_type, data)]
        return [Ignored(event_id, event_type)]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValidationFailed(f"not a Paddle Billing notification: {error}") from error


def _sale(event_id: str, event_type: str, data: dict[str, Any]) -> Sale:
    custom = data.get("custom_data") or {}
    totals = data["details"]["totals"]
    items = []
    for item in data["items"]:
        price = item.get("price") or {}
        unit_price = (price.get("unit_price") or {}).get("amount", "0")
        items.append(
            SoldItem(
                product=str(price.get("id") or item.get("price_id")),
                quantity=int(item.get("quantity", 1)),
                unit_price_cents=cents(unit_price),
            )
        )
    payments = [p for p in data.get("payments") or [] if p.get("status") == "captured"]
    return Sale(
        event_id=event_id,
        event_type=event_type,
        order_id=str(data["id"]),
        # The invoice number is what Paddle's receipt shows; the transaction id otherwise.
        number=str(data.get("invoice_number") or data["id"]),
        email=str(custom.get("email", "")),
        name=str(custom.get("name", "")),
        language=str(custom.get("language", "en")),
        currency=str(data["currency_code"]),
        total_cents=cents(totals.get("grand_total", totals["total"])),
        tax_cents=cents(totals.get("tax", "0")),
        items=tuple(items),
        payment_id=str(payments[0]["payment_attempt_id"]) if payments else None,
    )


def _adjustment(event_id: str, event_type: str, data: dict[str, Any]) -> ProviderEvent:
    action, status = data.get("action"), data.get("status")
    if status != "approved":
        return Ignored(event_id, event_type, f"adjustment {status}")
    if action == "chargeback":
        return Refund(event_id, event_type, str(data["transaction_id"]), "chargeback")
    if action == "refund" and data.get("type", "full") == "full":
        reason = str(data.get("reason") or "refund")
        return Refund(event_id, event_type, str(data["transaction_id"]), reason)
    return Ignored(event_id, event_type, f"adjustment {action} {data.get('type')}")
