"""Lemon Squeezy's webhooks (docs/payments.md, "Lemon Squeezy").

``X-Signature`` is the hex HMAC-SHA256 of the raw body with the webhook's signing secret.
Lemon Squeezy signs no timestamp and gives a delivery no id, so a replayed delivery cannot
be told by its age: it is told by what it says. An event is identified by its name and
the order's id (``order_created:12345``), acted on once, and an order is made once, so a
replay changes nothing; a refund replayed finds the order refunded.

``order_created`` with ``status`` ``paid`` is a sale; ``order_refunded`` with
``refunded`` true (a full refund) blocks it. The product is the order's first item's
variant id (else its product id): one Lemon Squeezy order is one product.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from licensor.errors import FulfilmentWebhookRejected, ValidationFailed
from licensor.store.fulfilment.core import (
    Ignored,
    ProviderEvent,
    Refund,
    Sale,
    SoldItem,
    cents,
    product_plans,
)

SIGNATURE_HEADER = "x-signature"


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Refuse a delivery not signed with ``secret``."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = headers.get(SIGNATURE_HEADER, "").strip().lower()
    # Bytes: a header may hold any character, and compare_digest takes only ASCII text.
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise FulfilmentWebhookRejected("the X-Signature does not match the body")


def read(body: bytes, products_setting: str) -> list[ProviderEvent]:
    """The delivery's one event. ``products_setting`` says whether a variant or a product
    id is mapped to a plan."""
    try:
        payload = json.loads(body)
        meta, data = payload["meta"], payload["data"]
        event_name = str(meta["event_name"])
        attributes = data["attributes"]
        event_id = f"{event_name}:{data['id']}"
        if event_name == "order_created":
            if attributes.get("status") != "paid":
                return [Ignored(event_id, event_name, f"status {attributes.get('status')}")]
            return [
                _sale(event_id, event_name, str(data["id"]), attributes, meta, products_setting)
            ]
        if event_name == "order_refunded":
            if not attributes.get("refunded"):
                return [Ignored(event_id, event_name, "partial refund")]
            return [Refund(event_id, event_name, str(data["id"]), "refund")]
        return [Ignored(event_id, event_name)]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValidationFailed(f"not a Lemon Squeezy webhook: {error}") from error


def _sale(
    event_id: str,
    event_name: str,
    order_id: str,
    attributes: dict[str, Any],
    meta: dict[str, Any],
    products_setting: str,
) -> Sale:
    item = attributes["first_order_item"]
    mapped = {
        product
        for provider, product in product_plans(products_setting)
        if provider == "lemonsqueezy"
    }
    product = str(item.get("variant_id"))
    if product not in mapped:
        product = str(item.get("product_id"))
    custom = meta.get("custom_data") or {}
    return Sale(
        event_id=event_id,
        event_type=event_name,
        order_id=order_id,
        number=str(attributes.get("order_number") or attributes["identifier"]),
        email=str(attributes["user_email"]),
        name=str(attributes.get("user_name") or ""),
        language=str(custom.get("language", "en")),
        currency=str(attributes["currency"]),
        total_cents=cents(attributes["total"]),
        tax_cents=cents(attributes.get("tax", 0)),
        items=(
            SoldItem(
                product=product,
                quantity=int(item.get("quantity") or 1),
                unit_price_cents=cents(item.get("price", 0)),
            ),
        ),
        payment_id=str(attributes.get("identifier") or "") or None,
        test_order=bool(meta.get("test_mode")),
    )
