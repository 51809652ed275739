"""FastSpring's webhooks (docs/payments.md, "FastSpring").

``X-FS-Signature`` is the base64 HMAC-SHA256 of the raw body with the webhook's HMAC
secret. One delivery carries several events (``{"events": [{"id", "type", "created",
"data"}, ...]}``), each with its own id, each acted on once. ``order.completed`` is a
sale (the order's ``reference``, e.g. ``FUR150317-5314-55140``, is what the buyer's
receipt shows and is our order's number); ``return.created`` gives its money back.
FastSpring's amounts are decimal numbers in the currency's units (``39.99``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from licensor.errors import FulfilmentWebhookRejected, ValidationFailed
from licensor.store.fulfilment.core import Ignored, ProviderEvent, Refund, Sale, SoldItem

SIGNATURE_HEADER = "x-fs-signature"


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Refuse a delivery not signed with ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    if not hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, "").strip()):
        raise FulfilmentWebhookRejected("the X-FS-Signature does not match the body")


def read(body: bytes) -> list[ProviderEvent]:
    """Every event of the delivery, in its order."""
    try:
        events = json.loads(body)["events"]
        return [_event(event) for event in events]
    except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as error:
        raise ValidationFailed(f"not a FastSpring webhook: {error}") from error


def _minor(amount: Any) -> int:
    # Decimal of the JSON text's number, not of a float: 39.99 is 3999, not 3998.
    return int((Decimal(str(amount)) * 100).to_integral_value())


def _event(event: dict[str, Any]) -> ProviderEvent:
    event_id, event_type, data = str(event["id"]), str(event["type"]), event["data"]
    if event_type == "order.completed":
        if data.get("completed") is False:
            return Ignored(event_id, event_type, "not completed")
        customer = data.get("customer") or {}
        name = " ".join(part for part in (customer.get("first"), customer.get("last")) if part)
        return Sale(
            event_id=event_id,
            event_type=event_type,
            order_id=str(data["reference"]),
            number=str(data["reference"]),
            email=str(customer["email"]),
            name=name,
            language=str(data.get("language") or "en"),
            currency=str(data["currency"]),
            total_cents=_minor(data["total"]),
            tax_cents=_minor(data.get("tax") or 0),
            items=tuple(
                SoldItem(
                    product=str(item["product"]),
                    quantity=int(item.get("quantity") or 1),
                    unit_price_cents=_minor(item.get("subtotal") or 0)
                    // max(int(item.get("quantity") or 1), 1),
                )
                for item in data["items"]
            ),
            payment_id=str(data.get("id") or data.get("order") or "") or None,
        )
    if event_type == "return.created":
        original = data["original"]
        reason = str(data.get("reason") or "return")
        return Refund(event_id, event_type, str(original["reference"]), reason)
    return Ignored(event_id, event_type)
