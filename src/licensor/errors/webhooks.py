"""What webhooks refuse: a URL they will not send to, an unknown event, endpoint or
delivery (licensor/webhooks)."""

from __future__ import annotations

from licensor.errors.base import LicensorError, NotFound


class WebhookUrlRefused(LicensorError):
    """Not http(s), or a host on this machine or a private network (SSRF), unless
    ``LICENSOR_WEBHOOKS_ALLOW_PRIVATE=on``."""

    status = 422
    code = "webhook_url_refused"
    title = "Webhooks are not sent to this URL"


class WebhookEventUnknown(LicensorError):
    status = 422
    code = "webhook_event_unknown"
    title = "There is no such webhook event"


class WebhookEndpointUnknown(NotFound):
    code = "webhook_endpoint_unknown"
    title = "There is no webhook endpoint with this id"


class WebhookDeliveryUnknown(NotFound):
    code = "webhook_delivery_unknown"
    title = "There is no webhook delivery with this id"
