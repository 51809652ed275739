"""What a request is refused before a route runs (licensor/edge.py, licensor/idempotency.py):
a body too large or not JSON, a NUL, an Idempotency-Key misused."""

from __future__ import annotations

from licensor.errors.base import LicensorError, ValidationFailed


class PayloadTooLarge(LicensorError):
    status = 413
    code = "payload_too_large"
    title = "The request body is too large"


class UnsupportedMediaType(LicensorError):
    """A body declared as something other than JSON (``text/plain``, a form, XML) sent to
    an API route that reads JSON: ``application/json`` or any ``application/*+json``."""

    status = 415
    code = "unsupported_media_type"
    title = "The request body must be JSON, sent as application/json"


class NulRefused(ValidationFailed):
    code = "validation_failed"
    title = "The request contains a NUL character, which no field may hold"


class IdempotencyKeyReused(LicensorError):
    """Stripe's semantics: one Idempotency-Key, one request body."""

    status = 422
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was already used with a different request"


class IdempotencyRequestInProgress(LicensorError):
    status = 409
    code = "idempotency_request_in_progress"
    title = "A request with this Idempotency-Key is still being processed; retry shortly"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class IdempotencyKeyInvalid(ValidationFailed):
    title = "An Idempotency-Key is 1 to 255 visible ASCII characters"
