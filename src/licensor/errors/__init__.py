"""The one error family: each error knows its HTTP status and stable machine code.

The API renders them as ``application/problem+json`` (RFC 9457); pages render them as
HTML. Services raise them; routes never build error responses by hand.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LicensorError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def headers(self) -> dict[str, str]:
        return {}


class ValidationFailed(LicensorError):
    status = 422
    code = "validation_failed"
    title = "The request is not valid"


class CodeMalformed(LicensorError):
    status = 422
    code = "code_malformed"
    title = "This is not a valid activation code; check it for typing mistakes"


class CodeUnknown(LicensorError):
    status = 404
    code = "code_unknown"
    title = "This activation code is not known"


class CodeBlocked(LicensorError):
    status = 403
    code = "code_blocked"
    title = "This activation code is blocked"


class DeviceLimitReached(LicensorError):
    status = 409
    code = "device_limit_reached"
    title = "The license is in use on the maximum number of devices"


class LicenseExpired(LicensorError):
    status = 403
    code = "license_expired"
    title = "The license has expired"


class LicenseKeyMalformed(LicensorError):
    status = 422
    code = "license_key_malformed"
    title = "This is not a valid license key"


class LicenseUnknown(LicensorError):
    status = 404
    code = "license_unknown"
    title = "This license is not known"


class InvalidCredentials(LicensorError):
    status = 401
    code = "invalid_credentials"
    title = "The email or password is not correct"


class FormInvalid(LicensorError):
    """Fields with problems, by field name; each problem is a message key for the page."""

    status = 422
    code = "validation_failed"
    title = "Some fields need attention"

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(None, fields=fields)
        self.fields = fields


class EmailNotVerified(LicensorError):
    status = 403
    code = "email_not_verified"
    title = "Confirm your email address first: we have sent the link again"


class LicenseNotOnDevice(LicensorError):
    status = 403
    code = "license_not_on_device"
    title = "This license is not active on this device"


class LicenseLinkedElsewhere(LicensorError):
    status = 409
    code = "license_linked_elsewhere"
    title = (
        "This license already belongs to another account. It was not moved. "
        "If it is yours, contact support with a screenshot of the License details window."
    )


# Connecting a device by a short code (F10, accounts/connect.py): what the app's poll hears.
class AuthorizationPending(LicensorError):
    status = 400
    code = "authorization_pending"
    title = "Waiting for the code to be entered in My Account"


class DeviceCodeExpired(LicensorError):
    status = 410
    code = "device_code_expired"
    title = "This connection code has expired; start again"


class UserCodeUnknown(LicensorError):
    status = 404
    code = "user_code_unknown"
    title = "This code is not valid, or has expired"


class PlanExists(LicensorError):
    status = 409
    code = "plan_exists"
    title = "A plan with this code already exists"


class PlanUnknown(LicensorError):
    status = 404
    code = "plan_unknown"
    title = "There is no plan with this code"


class PartnerExists(LicensorError):
    status = 409
    code = "partner_exists"
    title = "A partner with this slug already exists"


class PartnerUnknown(LicensorError):
    status = 404
    code = "partner_unknown"
    title = "There is no partner with this slug"


class InvalidPartnerKey(LicensorError):
    status = 401
    code = "invalid_api_key"
    title = "The API key is wrong, unknown or revoked"


class NotFound(LicensorError):
    status = 404
    code = "not_found"
    title = "Not found"


class RateLimited(LicensorError):
    status = 429
    code = "rate_limited"
    title = "Too many requests; try again later"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class PartnerKeyRefused(InvalidPartnerKey):
    """The partner API's 401: one answer for a missing, malformed, wrong, unknown or
    revoked key, with the challenge RFC 6750 asks of a bearer-token API."""

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="partner-api"'}


class CodeNotAllocated(LicensorError):
    """One answer for another partner's code and a code never issued, so a partner cannot
    probe which codes exist."""

    status = 404
    code = "code_not_allocated"
    title = "This activation code is not in your allocation"


class CodeUnavailable(LicensorError):
    status = 409
    code = "code_unavailable"
    title = "This activation code is already sold or blocked"


class OrderExists(LicensorError):
    status = 409
    code = "order_exists"
    title = "An order with this number is already recorded"


class OrderUnknown(LicensorError):
    status = 404
    code = "order_unknown"
    title = "There is no order with this number"


class PlanNotForSale(LicensorError):
    status = 404
    code = "plan_not_for_sale"
    title = "This plan is not sold in the store"


class SubscriptionNeedsAccount(LicensorError):
    status = 401
    code = "sign_in_required"
    title = "Sign in to subscribe: a subscription belongs to your account"


class AlreadySubscribed(LicensorError):
    status = 409
    code = "already_subscribed"
    title = "You already subscribe to this plan: see My Account → Subscriptions"


class PaymentUnknown(LicensorError):
    status = 404
    code = "payment_unknown"
    title = "There is no payment with this reference"


class PaymentMismatch(LicensorError):
    status = 409
    code = "payment_mismatch"
    title = "The payment does not match the order"


class PaymentUnavailable(LicensorError):
    status = 503
    code = "payment_unavailable"
    title = "The payment service is not answering; try again in a few minutes"


class CallbackRejected(LicensorError):
    status = 400
    code = "payment_callback_rejected"
    title = "This payment callback is not signed by the payment provider"


class EnrollmentTokenInvalid(LicensorError):
    status = 410
    code = "enrollment_token_invalid"
    title = "This installation link was already used or has expired; download the app again"


class DestinationNotOfRecord(LicensorError):
    """A code goes only to an email of record (the request's, the account's, the order's);
    anything else in the form, a typed address included, is this."""

    status = 422
    code = "destination_not_of_record"
    title = "An activation code can be sent only to an email address of record"


class RequestHasNoAccount(LicensorError):
    status = 409
    code = "request_has_no_account"
    title = (
        "No account has this request's email address; ask the customer to create one "
        "with it, then attach"
    )


class OrderLinkedElsewhere(LicensorError):
    status = 409
    code = "order_linked_elsewhere"
    title = "This order belongs to another account. It was not moved."


class RequestLinkUnknown(NotFound):
    """One answer for a forged, mistyped or unknown follow link of a support request."""

    code = "support_request_unknown"
    title = "This support request link is not valid"


class UploadTooLarge(LicensorError):
    """The support form's body, told by its Content-Length before anything is read."""

    status = 413
    code = "upload_too_large"
    title = "The files are too large together: attach at most 3 screenshots of 5 MB each."


class LengthRequired(LicensorError):
    status = 411
    code = "length_required"
    title = "Send the form again from the support page."


# Screenshots refused by the support form (support/attachments.py): the form shows the
# title beside the file field.
class AttachmentRefused(LicensorError):
    status = 422
    code = "attachment_refused"
    title = "This file cannot be attached"


class AttachmentTooLarge(AttachmentRefused):
    status = 413
    code = "attachment_too_large"
    title = "This file is larger than 5 MB: attach a smaller screenshot."


class AttachmentType(AttachmentRefused):
    code = "attachment_type"
    title = "This file is not a PNG, JPEG or WebP image."


class AttachmentPixels(AttachmentRefused):
    code = "attachment_pixels"
    title = (
        "This image is too large (more than 25 megapixels): attach a screenshot of the window only."
    )


class AttachmentDamaged(AttachmentRefused):
    code = "attachment_damaged"
    title = "This image is damaged or incomplete and cannot be read."


class AttachmentPolyglot(AttachmentRefused):
    code = "attachment_polyglot"
    title = (
        "This file has other data after the image. Save the screenshot again and attach "
        "the new file."
    )


class TooManyAttachments(AttachmentRefused):
    code = "too_many_attachments"
    title = "Attach at most 3 screenshots."


# Reading the license key from a screenshot (support/ocr/), in the worker.
class ScreenshotUnreadable(LicensorError):
    status = 422
    code = "screenshot_unreadable"
    title = "This file is not an image that can be read"


class OcrUnavailable(LicensorError):
    status = 503
    code = "ocr_unavailable"
    title = "The screenshot reader (Tesseract) is not available"


class CodeNotSold(LicensorError):
    """A code whose sale must be recorded first (a partner's allocation, or a card batch
    sold at the till) activates only once the partner or the till has recorded it."""

    status = 403
    code = "code_not_sold"
    title = (
        "This activation code has not been sold yet; the shop that sold it must register "
        "the sale first"
    )


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


class ServiceUnavailable(LicensorError):
    """A store the answer depends on is away: the database, or the rate-limit store where a
    limit protects a guessable secret (failing closed)."""

    status = 503
    code = "service_unavailable"
    title = "The service is briefly unavailable; try again shortly"

    def __init__(self, retry_after: int = 5, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimitStoreDown(ServiceUnavailable):
    """The shared rate-limit store (Redis) did not answer in time. Uncaught, it is the 503
    of a limit that protects a guessable secret (failing closed); ``ratelimit.enforce``
    lets validation through instead (failing open)."""


class NulRefused(ValidationFailed):
    code = "validation_failed"
    title = "The request contains a NUL character, which no field may hold"
