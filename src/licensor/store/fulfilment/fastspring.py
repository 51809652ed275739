"""FastSpring's webhooks (docs/payments.md, "FastSpring").

``X-FS-Signature`` is the base64 HMAC-SHA256 of the raw body with the webhook's HMAC
secret. One delivery carries several events (``{"events": [{"id", "type", "created",
"data"}, ...]}``), each with its own id, each acted on once. ``order.completed`` is a
sale (the order's ``reference``, e.g. ``FUR150317-5314-55140``, is what the buyer's
receipt shows and is our order's number); ``return.created`` gives its money back.
FastSpring's amounts are decimal numbers in the currency's units (``39.99``).

FastSpring can also show our codes on its own receipt: a product's fulfilment "Generate a
License" → "Remote Server Request" posts the order's fields as a form to
``/api/v1/fulfilment/fastspring/license/{product}``, signed with the generator's private
key (``security_request_hash``: the MD5 of every other field's value, in the order of
their names, followed by the key), and shows the answer's body, one code a line, to the
buyer. In that mode we send no mail of our own.
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
HASH_FIELD = "security_request_hash"


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Refuse a delivery not signed with ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    given = headers.get(SIGNATURE_HEADER, "").strip()
    # Bytes: a header may hold any character, and compare_digest takes only ASCII text.
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise FulfilmentWebhookRejected("the X-FS-Signature does not match the body")


def verify_license_request(fields: Mapping[str, str], private_key: str) -> None:
    """Refuse a license request not signed with the generator's ``private_key``."""
    signed = "".join(value for name, value in sorted(fields.items()) if name != HASH_FIELD)
    expected = hashlib.md5((signed + private_key).encode(), usedforsecurity=False).hexdigest()
    if not hmac.compare_digest(
        expected.encode(), fields.get(HASH_FIELD, "").strip().lower().encode()
    ):
        raise FulfilmentWebhookRejected("the security_request_hash does not match the fields")


def read_license_request(fields: Mapping[str, str], product: str) -> Sale:
    """The order a license request is for: its reference, buyer and quantity (the amounts
    arrive with the order.completed webhook, if it is configured)."""
    reference = fields.get("reference", "").strip()
    quantity = fields.get("quantity", "1").strip() or "1"
    if not reference or not quantity.isdigit():
        raise ValidationFailed("a FastSpring license request names its reference and quantity")
    return Sale(
        event_id=f"license:{reference}",
        event_type="license.requested",
        order_id=reference,
        number=reference,
        email=fields.get("email", ""),
        name=fields.get("name", ""),
        currency="",
        total_cents=0,
        tax_cents=0,
        items=(SoldItem(product=product, quantity=int(quantity)),),
    )


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
            test_order=event.get("live") is False,
        )
    if event_type == "return.created":
        original = data["original"]
        reason = str(data.get("reason") or "return")
        return Refund(event_id, event_type, str(original["reference"]), reason)
    return Ignored(event_id, event_type)
