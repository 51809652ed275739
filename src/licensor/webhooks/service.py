"""The vendor's webhook endpoints and their deliveries (``unit.webhooks``): made, listed,
disabled and enabled again, their secret rotated, a delivery resent; each change audited.

A rotated secret does not stop at once: the receiver holds the old one until someone
gives it the new. For ``ROTATION_OVERLAP`` each delivery carries two signatures, one per
secret (Standard Webhooks allows several in ``webhook-signature``), so a receiver with
either verifies it; after that only the new secret signs."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from licensor.errors import (
    WebhookDeliveryUnknown,
    WebhookEndpointUnknown,
    WebhookEventUnknown,
    WebhookUrlRefused,
)
from licensor.keys import Keyring
from licensor.models import WebhookDelivery, WebhookEndpoint
from licensor.units import Service
from licensor.webhooks import events
from licensor.webhooks.targets import pinned

SECRET_PURPOSE = b"webhook_secret"
SECRET_BYTES = 24  # 192 bits: the specification asks for 24 to 64
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    """A signing secret as the specification writes it: ``whsec_`` and base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class Webhooks(Service):
    """Endpoints and deliveries bound to one unit of work."""

    def create(
        self, url: str, event_types: Sequence[str] = (), *, description: str = ""
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint taking ``event_types`` (none: every event), and its signing
        secret ``whsec_…``, which is kept encrypted and shown only now."""
        unknown = sorted(set(event_types) - set(events.EVENTS))
        if unknown:
            raise WebhookEventUnknown(
                f"unknown event {unknown[0]}; the events are: {', '.join(events.EVENTS)}"
            )
        url = url.strip()
        if len(url) > 2000:
            raise WebhookUrlRefused("the URL is longer than 2000 characters")
        # Resolved now as well as at each delivery, so a mistake shows at once.
        pinned(url, allow_private=self.settings.webhooks_allow_private)
        secret = new_secret()
        endpoint = WebhookEndpoint(
            url=url,
            events=sorted(set(event_types)),
            secret_ciphertext=self.keyring.encrypt(secret, purpose=SECRET_PURPOSE),
            description=description.strip()[:200],
            created_at=self.now,
            created_by=self.unit.actor,
        )
        self.session.add(endpoint)
        self.session.flush()
        self.unit.audit(
            "webhooks.endpoint_created",
            subject_type="webhook_endpoint",
            subject_id=endpoint.id,
            url=url,
            events=endpoint.events,
        )
        return endpoint, secret

    def secret(self, endpoint: WebhookEndpoint) -> str:
        """The endpoint's signing secret (the worker signs with it)."""
        return self.keyring.decrypt(endpoint.secret_ciphertext, purpose=SECRET_PURPOSE)

    def endpoints(self) -> list[WebhookEndpoint]:
        """Every endpoint, the newest first."""
        query = select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())
        return list(self.session.scalars(query))

    def endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        endpoint = self.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise WebhookEndpointUnknown()
        return endpoint

    def disable(self, endpoint_id: int) -> WebhookEndpoint:
        """Stop sending to an endpoint: no new deliveries, and those waiting are dropped
        by the worker (its deliveries stay listed)."""
        endpoint = self.endpoint(endpoint_id)
        if endpoint.disabled_at is None:
            endpoint.disabled_at = self.now
            self.unit.audit(
                "webhooks.endpoint_disabled",
                subject_type="webhook_endpoint",
                subject_id=endpoint.id,
                url=endpoint.url,
            )
            self.session.flush()
        return endpoint

    def enable(self, endpoint_id: int) -> WebhookEndpoint:
        """Send to a disabled endpoint again: events from now on (what was dropped while
        it was disabled stays dropped; an admin may resend it)."""
        endpoint = self.endpoint(endpoint_id)
        if endpoint.disabled_at is not None:
            endpoint.disabled_at = None
            self.unit.audit(
                "webhooks.endpoint_enabled",
                subject_type="webhook_endpoint",
                subject_id=endpoint.id,
                url=endpoint.url,
            )
            self.session.flush()
        return endpoint

    def rotate_secret(self, endpoint_id: int) -> tuple[WebhookEndpoint, str]:
        """A new signing secret for the endpoint, shown only now; the current one keeps
        signing beside it for ``ROTATION_OVERLAP``. A second rotation within that time
        drops the oldest: only the two latest secrets ever sign."""
        endpoint = self.session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
        if endpoint is None:
            raise WebhookEndpointUnknown()
        secret = new_secret()
        endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
        endpoint.previous_secret_until = self.now + ROTATION_OVERLAP
        endpoint.secret_ciphertext = self.keyring.encrypt(secret, purpose=SECRET_PURPOSE)
        self.unit.audit(
            "webhooks.secret_rotated",
            subject_type="webhook_endpoint",
            subject_id=endpoint.id,
            url=endpoint.url,
            previous_until=endpoint.previous_secret_until.isoformat(),
        )
        self.session.flush()
        return endpoint, secret

    def deliveries(
        self, endpoint_id: int | None = None, *, limit: int = 100
    ) -> list[WebhookDelivery]:
        """The latest deliveries, of one endpoint or all, the newest first."""
        query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
        if endpoint_id is not None:
            query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
        return list(self.session.scalars(query))

    def resend(self, delivery_id: int) -> WebhookDelivery:
        """Send a delivery again, delivered or given up, with the same ``webhook-id`` (the
        receiver may already have it: the id lets it tell), its attempts counted anew."""
        delivery = self.session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise WebhookDeliveryUnknown()
        delivery.delivered_at = None
        delivery.failed_at = None
        delivery.claimed_until = None
        delivery.attempts = 0
        delivery.next_attempt_at = self.now
        self.unit.audit(
            "webhooks.delivery_resent",
            subject_type="webhook_delivery",
            subject_id=delivery.id,
            message_id=delivery.message_id,
            event=delivery.event_type,
        )
        self.session.flush()
        return delivery

    def emit(self, event_type: str, data: dict[str, Any]) -> int:
        """``events.emit`` in this unit."""
        return events.emit(self.unit, event_type, data)


def signing_secrets(keyring: Keyring, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery to ``endpoint`` at ``now``: the current one, and
    the one it replaced while the rotation's overlap lasts."""
    secrets_now = [keyring.decrypt(endpoint.secret_ciphertext, purpose=SECRET_PURPOSE)]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret_ciphertext is not None and until is not None and now < until:
        secrets_now.append(
            keyring.decrypt(endpoint.previous_secret_ciphertext, purpose=SECRET_PURPOSE)
        )
    return secrets_now
