"""What the store refuses: partners and their API keys, orders, subscriptions, payments
and installation links (licensor/store). A payment provider raises ``PaymentUnavailable``
and ``CallbackRejected`` (docs/payments.md)."""

from __future__ import annotations

from licensor.errors.base import LicensorError


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


class OrderNotRefundable(LicensorError):
    """Not paid, or sold by a merchant-of-record store whose own dashboard refunds it."""

    status = 409
    code = "order_not_refundable"
    title = "This order cannot be refunded here"


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


class FulfilmentWebhookRejected(LicensorError):
    """A merchant-of-record store's webhook (store/fulfilment/) without that store's valid
    signature, or with a signed timestamp too far from now (a replay): nothing is done."""

    status = 400
    code = "fulfilment_webhook_rejected"
    title = "This webhook is not signed by the store it claims to come from, or is too old"


class EnrollmentTokenInvalid(LicensorError):
    status = 410
    code = "enrollment_token_invalid"
    title = "This installation link was already used or has expired; download the app again"
