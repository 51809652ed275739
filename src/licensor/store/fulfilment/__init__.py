"""Fulfilment webhooks from merchant-of-record stores: Paddle Billing, Lemon Squeezy and
FastSpring sell, and their webhooks make our orders and codes (docs/payments.md).

``core`` acts on events whichever store sent them; one module per store checks its
signature scheme and reads its payload; ``read_delivery`` picks the store's module.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from licensor.config import Settings
from licensor.store.fulfilment import fastspring, lemonsqueezy, paddle
from licensor.store.fulfilment.core import (
    PROVIDERS,
    Fulfilment,
    Ignored,
    Outcome,
    ProviderEvent,
    Sale,
)
from licensor.store.payments import allows_test_payments

__all__ = ["PROVIDERS", "Fulfilment", "Outcome", "read_delivery", "webhook_secret"]


def webhook_secret(settings: Settings, provider: str) -> str | None:
    """The store's signing secret, or None for a store that is not configured here (or
    not a store at all): its webhook does not exist."""
    secret = {
        "paddle": settings.paddle_webhook_secret,
        "lemonsqueezy": settings.lemonsqueezy_webhook_secret,
        "fastspring": settings.fastspring_webhook_secret,
    }.get(provider, "")
    return secret or None


def read_delivery(
    provider: str, body: bytes, headers: Mapping[str, str], settings: Settings, now: datetime
) -> list[ProviderEvent]:
    """A delivery's events once its signature is proven (``FulfilmentWebhookRejected``
    otherwise; ``ValidationFailed`` for a signed body we cannot read). Nothing is parsed
    before the signature is checked over the raw bytes."""
    secret = webhook_secret(settings, provider)
    assert secret is not None  # the route answers 404 before
    if provider == "paddle":
        paddle.verify(
            body, headers, secret, now=now, tolerance=settings.paddle_webhook_tolerance_seconds
        )
        events = paddle.read(body)
    elif provider == "lemonsqueezy":
        lemonsqueezy.verify(body, headers, secret)
        events = lemonsqueezy.read(body, settings.fulfilment_products)
    else:
        fastspring.verify(body, headers, secret)
        events = fastspring.read(body)
    if allows_test_payments(settings):
        return events
    # A store's test checkout takes its public test cards from anyone who finds it: where
    # real customers buy, its orders make no codes, as our own test provider would not.
    return [
        Ignored(event.event_id, event.event_type, "test order")
        if isinstance(event, Sale) and event.test_order
        else event
        for event in events
    ]
