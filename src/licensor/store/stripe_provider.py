"""The Stripe payment provider, ``LICENSOR_PAYMENT_PROVIDER=stripe`` (docs/payments.md,
"Stripe"), with Stripe's own library.

Codes are paid on a Checkout Session in payment mode. A subscription whose term Stripe can
bill (up to a year: Stripe's longest interval) is a Checkout Session in subscription mode,
and from then on **Stripe Billing renews it**: its invoices' webhooks renew the period or
mark it past due, and ``licensor worker`` leaves it alone (``Renewals.due``). A longer
term is paid in payment mode with the card kept for later (``setup_future_usage``), and
the worker charges it off-session (``charge``), as for any provider.

Every call that creates something carries an idempotency key of ours, so a call repeated
after a timeout is answered with what the first one made. Webhooks are verified with the
endpoint's signing secret (``Webhook.construct_event``, five minutes of tolerance) before
anything is read from them; ``verify`` turns the few events the store acts on into the
interface's notices (``store/stripe_events.py``), and everything else into None
("ignored").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

import stripe

from licensor.clock import Clock
from licensor.config import Settings
from licensor.errors import CallbackRejected, PaymentSetupError, PaymentUnavailable
from licensor.keys import Keyring
from licensor.logging import log
from licensor.store.payments import (
    STRIPE_PROVIDER,
    Callback,
    CardOnFile,
    PaymentOutcome,
    PaymentRequest,
    PaymentResult,
    PaymentStart,
    ProviderNotice,
    RecurringCharge,
    RefundRequest,
    SetupRequest,
    allows_test_payments,
)
from licensor.store.stripe_events import KEEPS_CARD, card_of, notice_of, with_event

SIGNATURE_TOLERANCE_SECONDS = 300
# Stripe bills a subscription at most once a year; a longer term is charged by our worker.
LONGEST_BILLED_TERM_DAYS = 365
# A Checkout Session opened for a reference is reused for half an hour (the idempotency
# key names the half hour), and lives half an hour after that window: Stripe's shortest
# life, counted from when Stripe made it. The margin keeps a session opened in a window's
# last second (a clock a little behind Stripe's, a slow request) above that shortest.
SESSION_WINDOW_SECONDS = 30 * 60
SESSION_MARGIN_SECONDS = 5 * 60
LOCALES = {"en", "it"}

_Answer = TypeVar("_Answer")


def stripe_provider(settings: Settings, keyring: Keyring, clock: Clock) -> StripeProvider:
    """The factory ``LICENSOR_PAYMENT_PROVIDER=stripe`` names: refuses to start (one
    line) without the API key or the webhook signing secret."""
    if problem := settings_problem(settings):
        raise PaymentSetupError(problem)
    return StripeProvider(
        secret_key=settings.stripe_secret_key.strip(),
        webhook_secret=settings.stripe_webhook_secret.strip(),
        api_base=settings.stripe_api_base.rstrip("/"),
        now=clock.now,
    )


def settings_problem(settings: Settings) -> str | None:
    """What is missing or wrong in the Stripe settings, in one line; None if nothing."""
    missing = [
        name
        for name, value in (
            ("LICENSOR_STRIPE_SECRET_KEY", settings.stripe_secret_key),
            ("LICENSOR_STRIPE_WEBHOOK_SECRET", settings.stripe_webhook_secret),
        )
        if not value.strip()
    ]
    if missing:
        return f"LICENSOR_PAYMENT_PROVIDER=stripe needs {' and '.join(missing)} (docs/payments.md)"
    if not settings.stripe_webhook_secret.strip().startswith("whsec_"):
        return "LICENSOR_STRIPE_WEBHOOK_SECRET is the webhook endpoint's signing secret, whsec_…"
    # Stripe's test cards are public: a test key where real customers buy gives codes away.
    if is_test_key(settings.stripe_secret_key.strip()) and not allows_test_payments(settings):
        return (
            "LICENSOR_STRIPE_SECRET_KEY is a test key and LICENSOR_BASE_URL is https (a real "
            "deployment): Stripe's test cards would buy working codes. Use a live key, or set "
            "LICENSOR_ALLOW_TEST_PAYMENTS=true on a staging server"
        )
    return None


def is_test_key(secret_key: str) -> bool:
    """Whether a Stripe API key is a test-mode one (pages then say TEST MODE)."""
    return secret_key.startswith(("sk_test_", "rk_test_"))


class StripeProvider:
    """Checkout Sessions, refunds and off-session renewals on Stripe; its webhooks read."""

    name = STRIPE_PROVIDER

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str,
        now: Callable[[], datetime],
    ) -> None:
        self.test_mode = is_test_key(secret_key)
        self._webhook_secret = webhook_secret
        self._now = now
        # Requests, which Stripe's library depends on: its httpx client posts in a way
        # httpx deprecates.
        self._http = stripe.RequestsClient(timeout=20)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base},
            http_client=self._http,
            max_network_retries=2,
        )

    def close(self) -> None:
        """Close the connections kept to Stripe (a provider made for one task)."""
        cast(Any, self._http).close()  # untyped in the library

    # paying ------------------------------------------------------------------------------

    def start(self, payment: PaymentRequest) -> PaymentStart:
        window = int(self._now().timestamp()) // SESSION_WINDOW_SECONDS
        metadata = {"reference": payment.reference, "order_number": payment.order_number}
        price: dict[str, Any] = {
            "currency": payment.currency.lower(),
            "unit_amount": payment.amount_cents,
            "product_data": {"name": payment.description},
        }
        params: dict[str, Any] = {
            "line_items": [{"quantity": 1, "price_data": price}],
            "client_reference_id": payment.reference,
            "metadata": metadata,
            "customer_email": payment.customer_email,
            "locale": payment.language if payment.language in LOCALES else "auto",
            "success_url": payment.return_url,
            "cancel_url": payment.cancel_url,
            "expires_at": (window + 2) * SESSION_WINDOW_SECONDS + SESSION_MARGIN_SECONDS,
        }
        if billed_by_stripe(payment):
            params["mode"] = "subscription"
            price["recurring"] = {"interval": "day", "interval_count": payment.term_days}
            params["subscription_data"] = {"metadata": metadata}
        else:
            params["mode"] = "payment"
            params["payment_intent_data"] = {"metadata": metadata}
            if payment.save_payment_method:
                params["payment_intent_data"]["setup_future_usage"] = "off_session"
                params["customer_creation"] = "always"  # a kept card belongs to a customer
                params["metadata"] = {**metadata, KEEPS_CARD: "yes"}
        session = self._call(
            "checkout_session",
            lambda: self._client.v1.checkout.sessions.create(
                cast(Any, params), {"idempotency_key": f"{payment.reference}_{window}"}
            ),
        )
        return PaymentStart(redirect_url=str(session.url), provider_payment_id=session.id)

    def start_setup(self, setup: SetupRequest) -> PaymentStart:
        params = {
            "mode": "setup",
            "payment_method_types": ["card"],
            "client_reference_id": setup.reference,
            "metadata": {"reference": setup.reference},
            "locale": setup.language if setup.language in LOCALES else "auto",
            "success_url": setup.return_url,
            "cancel_url": setup.cancel_url,
        }
        session = self._call(
            "setup_session",
            lambda: self._client.v1.checkout.sessions.create(
                cast(Any, params), {"idempotency_key": setup.reference}
            ),
        )
        return PaymentStart(redirect_url=str(session.url), provider_payment_id=session.id)

    def charge(self, charge: RecurringCharge) -> PaymentResult:
        customer, _, method = charge.payment_method.rpartition(":")
        params: dict[str, Any] = {
            "amount": charge.amount_cents,
            "currency": charge.currency.lower(),
            "payment_method": method,
            "off_session": True,
            "confirm": True,
            "description": charge.description,
            "metadata": {"reference": charge.reference},
        }
        if customer:
            params["customer"] = customer
        declined = PaymentResult(
            reference=charge.reference,
            outcome=PaymentOutcome.FAILED,
            amount_cents=charge.amount_cents,
            currency=charge.currency,
        )
        try:
            intent = self._call(
                "renewal_charge",
                lambda: self._client.v1.payment_intents.create(
                    cast(Any, params), {"idempotency_key": charge.reference}
                ),
                may_decline=True,
            )
        except _Declined:
            return declined
        if intent.status != "succeeded":  # e.g. requires_action: the customer must act
            return declined
        return PaymentResult(
            reference=charge.reference,
            outcome=PaymentOutcome.PAID,
            amount_cents=intent.amount,
            currency=intent.currency.upper(),
            provider_payment_id=intent.id,
        )

    def refund(self, refund: RefundRequest) -> None:
        if not refund.provider_payment_id:
            raise PaymentUnavailable(
                f"order {refund.order_number} has no Stripe payment to refund: refund it in "
                "the Stripe Dashboard (its charge.refunded webhook blocks the codes)"
            )
        # Only what the order decides: Stripe refuses an idempotency key sent again with
        # other parameters, so a retry whose reason was typed anew must send the same.
        params = {
            "payment_intent": refund.provider_payment_id,
            "metadata": {"order_number": refund.order_number},
        }
        try:
            self._call(
                "refund",
                lambda: self._client.v1.refunds.create(
                    cast(Any, params), {"idempotency_key": refund.reference}
                ),
                may_decline=True,
            )
        except _Declined as error:
            if error.code != "charge_already_refunded":
                raise PaymentUnavailable(f"Stripe refused the refund: {error}") from None

    def set_renewal(self, provider_subscription_id: str, *, renews: bool) -> None:
        """Turned off in My Account, Stripe stops at the end of the paid period (and then
        sends ``customer.subscription.deleted``); turned on again, it goes on."""
        params = {"cancel_at_period_end": not renews}
        self._call(
            "subscription_update",
            lambda: self._client.v1.subscriptions.update(
                provider_subscription_id, cast(Any, params)
            ),
        )

    def _call(
        self, what: str, request: Callable[[], _Answer], *, may_decline: bool = False
    ) -> _Answer:
        """A Stripe API call. Where an answer of "no" is an outcome (``may_decline``: a
        card declined, a refund refused) it is ``_Declined``; otherwise, and without an
        answer, ``PaymentUnavailable`` (logged: an operator may have to look)."""
        try:
            return request()
        except (stripe.CardError, stripe.InvalidRequestError) as error:
            log.warning(f"payments.stripe_{what}_refused", code=error.code, error=str(error))
            if not may_decline:
                raise PaymentUnavailable() from None
            raise _Declined(error.code or "", str(error)) from None
        except stripe.StripeError as error:
            log.error(f"payments.stripe_{what}_failed", error=str(error))
            # The page shows the title alone (translated); the library's words are logged.
            raise PaymentUnavailable() from None

    # webhooks ----------------------------------------------------------------------------

    def verify(self, callback: Callback) -> ProviderNotice | None:
        try:
            event = stripe.Webhook.construct_event(
                callback.body.decode(),
                callback.headers.get("stripe-signature"),
                self._webhook_secret,
                tolerance=SIGNATURE_TOLERANCE_SECONDS,
            )
        except (stripe.SignatureVerificationError, ValueError) as error:
            log.warning("payments.stripe_webhook_rejected", error=str(error))
            raise CallbackRejected("the Stripe-Signature header does not verify") from None
        # Read as plain JSON: the signature was over these very bytes.
        body: dict[str, Any] = json.loads(callback.body)
        kind, event_id = str(event.type), str(event.id)
        data: dict[str, Any] = body.get("data", {}).get("object", {})
        try:
            notice = notice_of(kind, data, self)
        except (KeyError, TypeError, ValueError) as error:
            log.warning("payments.stripe_event_unreadable", event=event_id, type=kind)
            raise CallbackRejected(f"the {kind} event is not as Stripe sends it") from error
        if notice is None:
            return None
        return with_event(notice, event_id, kind)

    def kept_card(self, payment_intent_id: str) -> tuple[str, CardOnFile | None]:
        """The card a payment kept, as ``charge`` needs it: ``customer:payment_method``."""
        intent = self._retrieve(
            lambda: self._client.v1.payment_intents.retrieve(
                payment_intent_id, cast(Any, {"expand": ["payment_method"]})
            )
        )
        return _method_of(intent), card_of(intent.payment_method)

    def saved_card(self, setup_intent_id: str) -> tuple[str, CardOnFile | None]:
        """The card a setup-mode session saved, as ``kept_card`` answers."""
        intent = self._retrieve(
            lambda: self._client.v1.setup_intents.retrieve(
                setup_intent_id, cast(Any, {"expand": ["payment_method"]})
            )
        )
        return _method_of(intent), card_of(intent.payment_method)

    def invoice_payment(self, invoice_id: str) -> str:
        """The payment intent that paid an invoice ("" if none): what a refund names."""
        payments = self._retrieve(
            lambda: self._client.v1.invoice_payments.list(
                cast(Any, {"invoice": invoice_id, "status": "paid"})
            )
        )
        for payment in payments.data:
            intent = getattr(payment.payment, "payment_intent", None)
            if intent:
                return intent if isinstance(intent, str) else str(intent.id)
        return ""

    def _retrieve(self, request: Callable[[], _Answer]) -> _Answer:
        # Reading what an event names: without an answer the webhook fails (503) and
        # Stripe delivers it again later.
        return self._call("retrieve", request)


class _Declined(Exception):
    """Stripe answered, and said no (a card declined, a request refused)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def billed_by_stripe(payment: PaymentRequest) -> bool:
    """A subscription whose term Stripe Billing can renew (up to a year)."""
    return payment.save_payment_method and 0 < payment.term_days <= LONGEST_BILLED_TERM_DAYS


def _method_of(intent: Any) -> str:
    method = intent.payment_method
    method_id = method if isinstance(method, str) else getattr(method, "id", "")
    return f"{intent.customer or ''}:{method_id}"
