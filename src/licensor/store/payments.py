"""How the store takes money: one small interface for payment providers, and the built-in
test provider that is the embedded default (docs/payments.md).

A provider does two things. ``start`` opens a payment for an order and gives the address
of its payment page, where the buyer is sent. ``verify`` reads what the provider sends us
afterwards (a webhook, or the test provider's own form) and says whether the payment
identified by our reference was paid or failed; only a verified callback changes an
order (``Checkout.settle``), never the buyer's return to our site. Settling is
idempotent by reference, so a provider may send the same callback as often as it likes.

A subscription's first payment asks the provider to keep the payment method
(``PaymentRequest.save_payment_method``); the verified result names it
(``PaymentResult.payment_method``), and the subscription keeps it. Renewals are charged to
it by ``charge``, off-session, from ``licensor worker`` (``licensor.store.tasks``), each
with an idempotency key of ours that names one subscription period and attempt.

The test provider plays a real one honestly: its card page is ours
(``/store/pay/test/{reference}``), and what it decides is handed to the checkout as a
signed callback, checked by ``verify`` exactly as a webhook from a real provider would be.

A provider's own module imports the interface from here, the two errors it raises
(``PaymentUnavailable``, ``CallbackRejected``) included, though they live in
``licensor.errors`` with every other.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Protocol
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request

from licensor.clock import Clock
from licensor.config import Settings
from licensor.errors import CallbackRejected as CallbackRejected
from licensor.errors import FormInvalid, PaymentSetupError
from licensor.errors import PaymentUnavailable as PaymentUnavailable
from licensor.keys import Keyring
from licensor.logging import log

TEST_PROVIDER = "test"


class PaymentOutcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True)
class PaymentRequest:
    """A payment to open for an order."""

    reference: str  # ours: unique, unguessable; the provider's idempotency key
    order_number: str
    amount_cents: int
    currency: str  # ISO 4217
    description: str
    customer_email: str
    language: str
    return_url: str  # where the provider sends the buyer back, paid or not
    cancel_url: str  # where "cancel" on the provider's page leads
    # A subscription's first payment: keep the payment method for its renewals (the
    # provider's "setup future usage"), and name it in the result.
    save_payment_method: bool = False


@dataclass(frozen=True)
class PaymentStart:
    redirect_url: str  # the provider's payment page for this payment
    provider_payment_id: str | None = None  # the provider's own id, for the audit trail


@dataclass(frozen=True)
class Callback:
    """What a provider sent us, as received: signatures are over the raw bytes."""

    body: bytes
    headers: Mapping[str, str]  # names in lower case


@dataclass(frozen=True)
class PaymentResult:
    """A verified outcome for the payment with our ``reference``."""

    reference: str
    outcome: PaymentOutcome
    amount_cents: int
    currency: str
    provider_payment_id: str = ""
    # The saved payment method, when the payment was asked to keep it: the provider's
    # reference for charging it again (kept in ``Subscription.payment_reference``).
    payment_method: str = ""


@dataclass(frozen=True)
class RecurringCharge:
    """A renewal to charge to a saved payment method, with no buyer present."""

    reference: str  # ours: the idempotency key, one per subscription period and attempt
    payment_method: str  # what the first payment saved (``PaymentResult.payment_method``)
    amount_cents: int
    currency: str  # ISO 4217
    description: str
    customer_email: str


class PaymentProvider(Protocol):
    """What the store needs of a payment provider (docs/payments.md).

    ``start`` and ``verify`` take a buyer through a payment page; ``charge`` renews a
    subscription off-session, with the payment method its first payment saved. Nothing
    but ``start`` assumes a buyer in front of a browser.
    """

    name: str  # as in /api/v1/payments/{name}/webhook
    test_mode: bool  # pages say TEST MODE when True

    def start(self, payment: PaymentRequest) -> PaymentStart:
        """Open the payment; raise ``PaymentUnavailable`` if the provider cannot."""
        ...

    def verify(self, callback: Callback) -> PaymentResult | None:
        """The outcome a callback reports, after checking it came from the provider
        (``CallbackRejected`` otherwise); None for an event the store does not act on."""
        ...

    def charge(self, charge: RecurringCharge) -> PaymentResult:
        """Charge a saved payment method now: PAID or FAILED (declined), with
        ``reference`` = ``charge.reference``. The same reference must never charge twice:
        pass it to the provider as its idempotency key, so a repeated call answers what
        the first one did. Raise ``PaymentUnavailable`` when there is no answer (the
        worker tries again on its next run, with the same reference)."""
        ...


# --- the test provider -------------------------------------------------------------------

TEST_CARD_PAYS = "4242424242424242"
TEST_CARD_DECLINED = "4000000000000002"
# Pays now, and is saved; every later charge to it (a renewal) is declined.
TEST_CARD_RENEWALS_DECLINED = "4000000000000341"
TEST_CARDS = (TEST_CARD_PAYS, TEST_CARD_DECLINED, TEST_CARD_RENEWALS_DECLINED)
TEST_METHOD_PREFIX = "tpm_"
SIGNATURE_HEADER = "licensor-test-signature"
SIGNATURE_TOLERANCE_SECONDS = 300  # a callback older (or newer) than this is a replay
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")
_CVC = re.compile(r"^\d{3,4}$")


@dataclass(frozen=True)
class CardForm:
    """The test card form, as typed."""

    number: str = ""
    expiry: str = ""  # MM/YY
    cvc: str = ""


def card_problems(card: CardForm, today: date) -> dict[str, str]:
    """What is wrong with a test card form, by field; a declined card is not a problem
    here, it is an outcome."""
    errors: dict[str, str] = {}
    number = re.sub(r"[\s-]", "", card.number)
    if not number:
        errors["number"] = "required"
    elif not number.isdigit() or len(number) != 16:
        errors["number"] = "card_number_invalid"
    elif number not in TEST_CARDS:
        errors["number"] = "card_not_a_test_card"
    match = _EXPIRY.match(card.expiry)
    if not card.expiry.strip():
        errors["expiry"] = "required"
    elif match is None or not 1 <= int(match[1]) <= 12:
        errors["expiry"] = "card_expiry_invalid"
    else:
        year = int(match[2]) + (2000 if len(match[2]) == 2 else 0)
        if (year, int(match[1])) < (today.year, today.month):
            errors["expiry"] = "card_expired"
    if not card.cvc.strip():
        errors["cvc"] = "required"
    elif not _CVC.match(card.cvc.strip()):
        errors["cvc"] = "card_cvc_invalid"
    return errors


class TestProvider:
    """The embedded default: a card form of ours, clearly in TEST MODE, where
    4242 4242 4242 4242 pays (and so do its renewals), 4000 0000 0000 0002 is declined,
    and 4000 0000 0000 0341 pays now but declines every renewal."""

    __test__ = False  # not a pytest test class, whatever its name
    name = TEST_PROVIDER
    test_mode = True

    def __init__(self, settings: Settings, keyring: Keyring, now: Callable[[], datetime]):
        self.settings = settings
        self._key = keyring.derive(b"test-payment-callbacks")
        self._now = now

    def start(self, payment: PaymentRequest) -> PaymentStart:
        return PaymentStart(
            redirect_url=self.settings.url(f"/store/pay/test/{payment.reference}"),
            provider_payment_id=None,
        )

    def pay(
        self,
        *,
        reference: str,
        amount_cents: int,
        currency: str,
        card: CardForm,
        save_payment_method: bool = False,
    ) -> Callback:
        """Charge a test card: the signed callback this provider sends about it.

        A mistyped card is ``FormInvalid`` (nothing happens, the form says why); a test
        card pays or is declined. Asked to, a paid card is saved for renewals: the saved
        method's reference names the card's last four digits, which is all ``charge``
        needs to answer the same way every time."""
        errors = card_problems(card, self._now().date())
        if errors:
            raise FormInvalid(errors)
        number = re.sub(r"[\s-]", "", card.number)
        paid = number != TEST_CARD_DECLINED
        event: dict[str, object] = {
            "reference": reference,
            "outcome": PaymentOutcome.PAID if paid else PaymentOutcome.FAILED,
            "amount_cents": amount_cents,
            "currency": currency,
            "payment_id": "tp_" + secrets.token_hex(8),
        }
        if paid and save_payment_method:
            event["payment_method"] = f"{TEST_METHOD_PREFIX}{number[-4:]}_{secrets.token_hex(6)}"
        body = json.dumps(event, sort_keys=True).encode()
        return Callback(body=body, headers={SIGNATURE_HEADER: self.sign(body)})

    def sign(self, body: bytes, timestamp: int | None = None) -> str:
        """``t=<unix time>,v1=<HMAC-SHA256 of "t.body">``, as Stripe-like providers sign."""
        moment = int(self._now().timestamp()) if timestamp is None else timestamp
        digest = hmac.new(self._key, f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={moment},v1={digest}"

    def verify(self, callback: Callback) -> PaymentResult:
        fields = dict(
            part.split("=", 1)
            for part in callback.headers.get(SIGNATURE_HEADER, "").split(",")
            if "=" in part
        )
        timestamp, signature = fields.get("t", ""), fields.get("v1", "")
        if not timestamp.isdigit() or not signature:
            raise CallbackRejected("the signature header is missing or malformed")
        if abs(self._now().timestamp() - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
            raise CallbackRejected("the signature is too old or too new")
        expected = self.sign(callback.body, int(timestamp)).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, signature):
            raise CallbackRejected("the signature does not match")
        try:
            event = json.loads(callback.body)
            return PaymentResult(
                reference=str(event["reference"]),
                outcome=PaymentOutcome(event["outcome"]),
                amount_cents=int(event["amount_cents"]),
                currency=str(event["currency"]),
                provider_payment_id=str(event.get("payment_id", "")),
                payment_method=str(event.get("payment_method", "")),
            )
        except (ValueError, KeyError, TypeError):
            raise CallbackRejected("the callback body is not a payment event") from None

    def charge(self, charge: RecurringCharge) -> PaymentResult:
        """A renewal, decided by the saved card alone, so the same reference always gets
        the same answer: 4242 pays; 0341 (and anything this provider never saved) is
        declined."""
        method = charge.payment_method
        paid = (
            method.startswith(TEST_METHOD_PREFIX)
            and method[len(TEST_METHOD_PREFIX) :].split("_", 1)[0] == TEST_CARD_PAYS[-4:]
        )
        digest = hashlib.sha256(charge.reference.encode()).hexdigest()[:16]
        return PaymentResult(
            reference=charge.reference,
            outcome=PaymentOutcome.PAID if paid else PaymentOutcome.FAILED,
            amount_cents=charge.amount_cents,
            currency=charge.currency,
            provider_payment_id="tp_" + digest,  # one reference, one payment
        )


# --- choosing the provider ---------------------------------------------------------------

ProviderFactory = Callable[[Settings, Keyring, Clock], PaymentProvider]


def allows_test_payments(settings: Settings) -> bool:
    """Test payments give codes away for fake cards: never where real customers buy.

    An https base URL is how a real deployment looks, so there they need
    ``LICENSOR_ALLOW_TEST_PAYMENTS=true`` (a staging server); plain http (a laptop, a
    demo, the tests) is allowed."""
    return urlsplit(settings.base_url).scheme != "https" or settings.allow_test_payments


def load_provider(settings: Settings, keyring: Keyring, clock: Clock) -> PaymentProvider:
    """The provider ``LICENSOR_PAYMENT_PROVIDER`` names: ``test``, or ``module:factory``
    where ``factory(settings, keyring, clock)`` returns a ``PaymentProvider``."""
    choice = settings.payment_provider.strip()
    if choice == TEST_PROVIDER:
        if not allows_test_payments(settings):
            raise PaymentSetupError(
                "LICENSOR_PAYMENT_PROVIDER=test takes fake cards, and LICENSOR_BASE_URL is "
                "https (a real deployment): configure a real provider (docs/payments.md), or "
                "set LICENSOR_ALLOW_TEST_PAYMENTS=true on a staging server"
            )
        log.warning("payments.test_mode", hint="the store takes test cards only")
        return TestProvider(settings, keyring, clock.now)
    module_name, _, attribute = choice.partition(":")
    if not module_name or not attribute:
        raise PaymentSetupError(
            f"LICENSOR_PAYMENT_PROVIDER={choice!r}: expected 'test' or 'package.module:factory'"
        )
    try:
        factory: ProviderFactory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise PaymentSetupError(f"LICENSOR_PAYMENT_PROVIDER={choice!r}: {error}") from error
    provider = factory(settings, keyring, clock)
    log.info("payments.provider", provider=provider.name, test_mode=provider.test_mode)
    return provider


# --- the app's provider, for routes -------------------------------------------------------


@asynccontextmanager
async def provider_at_start(app: FastAPI) -> AsyncIterator[None]:
    """A router's lifespan: the provider is loaded when the server starts, so a server with
    a missing provider, or the test one behind https, refuses to start rather than failing
    its first customer."""
    state = app.state
    state.payment_provider = load_provider(state.settings, state.keyring, state.clock)
    yield


async def _app_provider(request: Request) -> PaymentProvider:
    state = request.app.state
    provider: PaymentProvider | None = getattr(state, "payment_provider", None)
    if provider is None:  # an app served without its lifespan (the tests)
        provider = state.payment_provider = load_provider(
            state.settings, state.keyring, state.clock
        )
    return provider


# The payment provider the app loaded: store pages and the providers' webhook.
Payments = Annotated[PaymentProvider, Depends(_app_provider)]
