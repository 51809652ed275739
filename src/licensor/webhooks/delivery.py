"""Delivering webhooks, at least once, with retries and backoff (``licensor worker``).

Deliveries are claimed a few at a time under a lease (licensor/leases.py), as the mail
outbox is, then each is POSTed and its outcome recorded in a transaction of its own. Every
attempt of a delivery carries the same ``webhook-id``, so a receiver that got it once
(its answer lost, a resend) can tell. A 2xx answer delivers it; anything else, or no
answer within the short timeouts, is retried; redirects are not followed (they could
lead anywhere the SSRF check did not look).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from standardwebhooks.webhooks import Webhook

from licensor.config import Settings
from licensor.db import Database
from licensor.errors import WebhookUrlRefused
from licensor.keys import Keyring
from licensor.leases import Failure, LeasedTable
from licensor.logging import log
from licensor.models import WebhookDelivery, WebhookEndpoint
from licensor.webhooks.events import PAYLOAD_PURPOSE
from licensor.webhooks.service import signing_secrets
from licensor.webhooks.targets import Target, pinned

MAX_ATTEMPTS = 12  # 30 s doubling to an hour: about five hours of a receiver away
BATCH = 10
LEASE = timedelta(minutes=2)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "Licensor-Webhooks/1"

DELIVERIES = LeasedTable(WebhookDelivery, WebhookDelivery.delivered_at)


class NotDelivered(Exception):
    """An attempt the receiver did not accept; ``status`` is its answer, if it gave one."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


def claim(
    database: Database, now: datetime, *, batch: int = BATCH, lease: timedelta = LEASE
) -> list[WebhookDelivery]:
    """Take up to ``batch`` due deliveries for this worker; others skip them."""
    return DELIVERIES.claim(database, now, batch=batch, lease=lease)


def deliver(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    delivery: WebhookDelivery,
    now: datetime,
) -> bool:
    """POST one claimed delivery and record the outcome; True when it was accepted."""
    with database.transaction() as session:
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        url, disabled = endpoint.url, endpoint.disabled_at is not None
        secrets = signing_secrets(keyring, endpoint, now)
    if disabled:
        DELIVERIES.fail(database, delivery, now, "the endpoint is disabled", give_up=True)
        return False
    body = keyring.decrypt(delivery.payload_ciphertext, purpose=PAYLOAD_PURPOSE)
    try:
        accepted = _post(url, secrets, delivery.message_id, body, settings)
    except (NotDelivered, WebhookUrlRefused, httpx.HTTPError) as error:
        status = error.status if isinstance(error, NotDelivered) else None
        reason = f"{type(error).__name__}: {error}"[:2000]
        last = delivery.attempts >= MAX_ATTEMPTS
        failure = DELIVERIES.fail(database, delivery, now, reason, give_up=last)
        if failure == Failure.GIVEN_UP:
            log.error("webhooks.failed", delivery=delivery.id, attempts=delivery.attempts)
        elif failure == Failure.RETRY:
            log.warning(
                "webhooks.retry", delivery=delivery.id, attempts=delivery.attempts, error=reason
            )
        _record_status(database, delivery, status)
        return False
    DELIVERIES.finish(database, delivery, now)
    _record_status(database, delivery, accepted)
    log.info("webhooks.delivered", delivery=delivery.id, event_type=delivery.event_type)
    return True


def _post(url: str, secrets: list[str], message_id: str, body: str, settings: Settings) -> int:
    """Sign ``body`` with each secret and send it to the address ``url``'s host has now,
    checked; its status. Several signatures go space-separated in one header, as the
    specification says: a receiver keeps the delivery if any verifies."""
    target = pinned(url, allow_private=settings.webhooks_allow_private)
    # The receiver checks this against its own clock (five minutes either way), so it is
    # the wall clock's, never a moved test clock's.
    timestamp = datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(message_id, timestamp, body) for secret in secrets
        ),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": _host_header(target),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request_url = httpx.URL(url).copy_with(host=str(target.address))
    with (
        httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client,
        client.stream(
            "POST", request_url, content=body.encode(), headers=headers, extensions=extensions
        ) as response,
    ):
        if not 200 <= response.status_code < 300:
            raise NotDelivered(f"answered {response.status_code}", response.status_code)
        return response.status_code


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def _record_status(database: Database, delivery: WebhookDelivery, status: int | None) -> None:
    with database.transaction() as session:
        session.get_one(WebhookDelivery, delivery.id).last_status = status
