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

The test provider (``store/testmode.py``) plays a real one honestly: its card page is ours
(``/store/pay/test/{reference}``), and what it decides is handed to the checkout as a
signed callback, checked by ``verify`` exactly as a webhook from a real provider would be.

A reference names one order's payment, which may take several attempts: after a declined
card the buyer tries again under the same reference (a provider's payment intent takes a
new attempt), so the order keeps its number.

Changing a subscription's card is a payment without an amount (``start_setup``, the
providers' "setup intent"): the buyer goes to the provider's page, the provider saves the
new card and tells us in a verified callback (``SetupResult``); we never see the card.

A provider's own module imports the interface from here, the two errors it raises
(``PaymentUnavailable``, ``CallbackRejected``) included, though they live in
``licensor.errors`` with every other.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Protocol, runtime_checkable
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request

from licensor.clock import Clock
from licensor.config import Settings
from licensor.errors import CallbackRejected as CallbackRejected
from licensor.errors import PaymentSetupError
from licensor.errors import PaymentUnavailable as PaymentUnavailable
from licensor.keys import Keyring
from licensor.logging import log

TEST_PROVIDER = "test"
STRIPE_PROVIDER = "stripe"


class PaymentOutcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True)
class CardOnFile:
    """What a page may show of a saved card: its brand and last four digits."""

    brand: str
    last4: str

    def stored(self) -> str:
        """As ``subscriptions.payment_method`` keeps it: ``"Visa 4242"``."""
        return f"{self.brand} {self.last4}"

    @classmethod
    def from_stored(cls, text: str | None) -> CardOnFile | None:
        brand, _, last4 = (text or "").rpartition(" ")
        return cls(brand, last4) if brand and last4 else None


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
    # A subscription's term, for a provider that bills the renewals itself (Stripe Billing).
    term_days: int = 0


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
    card: CardOnFile | None = None  # how the saved method is shown
    # A subscription the provider bills itself from now on (Stripe Billing): its id there.
    provider_subscription_id: str = ""
    # The provider's event that said so (its id and type): acted on once.
    event_id: str = ""
    event_type: str = ""


@dataclass(frozen=True)
class SetupRequest:
    """A new payment method to save for a subscription's renewals, its owner present (the
    subscription page's "Change the card"); no money is taken."""

    reference: str  # ours: unguessable, names the subscription (``store/billing.py``)
    customer_email: str
    language: str
    description: str
    return_url: str  # where the provider sends the customer back, saved or not
    cancel_url: str


@dataclass(frozen=True)
class SetupResult:
    """A verified new payment method for the setup with our ``reference``."""

    reference: str
    payment_method: str  # the provider's reference for charging it
    card: CardOnFile | None = None
    event_id: str = ""
    event_type: str = ""


@dataclass(frozen=True)
class PaymentReversed:
    """A paid payment's money went back: refunded in full (from our console or the
    provider's dashboard), or taken back by the buyer's bank (a dispute)."""

    provider_payment_id: str  # as the order keeps it (``Order.provider_payment_id``)
    reason: str
    event_id: str = ""
    event_type: str = ""


@dataclass(frozen=True)
class BilledRenewal:
    """An invoice of a subscription the provider bills itself: paid (one more period) or
    failed (past due)."""

    provider_subscription_id: str
    invoice_id: str
    outcome: PaymentOutcome
    amount_cents: int
    currency: str
    provider_payment_id: str = ""
    period_end: datetime | None = None  # the period the invoice paid for, as billed
    event_id: str = ""
    event_type: str = ""


@dataclass(frozen=True)
class BilledSubscriptionEnded:
    """The provider stopped billing a subscription (canceled, or its retries gave up)."""

    provider_subscription_id: str
    event_id: str = ""
    event_type: str = ""


# What ``verify`` may report: a payment's outcome, a saved card, or (for a provider that
# tells) a refund or dispute, and a provider-billed subscription's invoices and end.
ProviderNotice = (
    PaymentResult | SetupResult | PaymentReversed | BilledRenewal | BilledSubscriptionEnded
)


@dataclass(frozen=True)
class RecurringCharge:
    """A renewal to charge to a saved payment method, with no buyer present."""

    reference: str  # ours: the idempotency key, one per subscription period and attempt
    payment_method: str  # what the first payment saved (``PaymentResult.payment_method``)
    amount_cents: int
    currency: str  # ISO 4217
    description: str
    customer_email: str


@dataclass(frozen=True)
class RefundRequest:
    """Money of a paid order to give back (the console's "Refund"), whole."""

    reference: str  # ours: the provider's idempotency key, one per order's refund
    order_number: str
    payment_reference: str | None  # the order's, as ``PaymentRequest.reference`` was
    provider_payment_id: str | None  # the provider's own id for the payment, if it gave one
    amount_cents: int
    currency: str
    reason: str


class PaymentProvider(Protocol):
    """What the store needs of a payment provider (docs/payments.md).

    ``start`` and ``verify`` take a buyer through a payment page; ``charge`` renews a
    subscription off-session, with the payment method its first payment saved;
    ``start_setup`` takes a subscriber through the provider's page that saves another card.
    Nothing but ``start`` and ``start_setup`` assumes a customer in front of a browser.
    """

    name: str  # as in /api/v1/payments/{name}/webhook
    test_mode: bool  # pages say TEST MODE when True

    def start(self, payment: PaymentRequest) -> PaymentStart:
        """Open the payment (or, for a reference already opened and declined, its next
        attempt); raise ``PaymentUnavailable`` if the provider cannot."""
        ...

    def start_setup(self, setup: SetupRequest) -> PaymentStart:
        """Open the provider's page that saves a new payment method, no charge."""
        ...

    def verify(self, callback: Callback) -> ProviderNotice | None:
        """The outcome a callback reports, after checking it came from the provider
        (``CallbackRejected`` otherwise): a payment's, a saved card's, a refund or dispute,
        a provider-billed subscription's invoice or end; None for an event the store does
        not act on."""
        ...

    def refund(self, refund: RefundRequest) -> None:
        """Give a paid payment's money back, whole. The same ``refund.reference`` must never
        refund twice (the provider's idempotency key). Raise ``PaymentUnavailable`` when
        there is no answer (nothing changes here; the admin tries again). The provider's
        own refund webhook, when it sends one, finds the order refunded already."""
        ...

    def charge(self, charge: RecurringCharge) -> PaymentResult:
        """Charge a saved payment method now: PAID or FAILED (declined), with
        ``reference`` = ``charge.reference``. The same reference must never charge twice:
        pass it to the provider as its idempotency key, so a repeated call answers what
        the first one did. Raise ``PaymentUnavailable`` when there is no answer (the
        worker tries again on its next run, with the same reference)."""
        ...


@runtime_checkable
class BillsSubscriptions(Protocol):
    """A provider that renews subscriptions itself (Stripe Billing), told when an owner
    turns renewal off or on again in My Account; otherwise it would go on charging."""

    def set_renewal(self, provider_subscription_id: str, *, renews: bool) -> None:
        """Renew at the period's end, or not; ``PaymentUnavailable`` without an answer."""
        ...


# --- choosing the provider ---------------------------------------------------------------

ProviderFactory = Callable[[Settings, Keyring, Clock], PaymentProvider]


def allows_test_payments(settings: Settings) -> bool:
    """Test payments give codes away for fake cards: never where real customers buy.

    An https base URL is how a real deployment looks, so there they need
    ``LICENSOR_ALLOW_TEST_PAYMENTS=true`` (a staging server); plain http (a laptop, a
    demo, the tests) is allowed."""
    return urlsplit(settings.base_url).scheme != "https" or settings.allow_test_payments


TEST_PAYMENTS_OVER_HTTPS = (
    "LICENSOR_PAYMENT_PROVIDER=test takes fake cards, and LICENSOR_BASE_URL is https (a real "
    "deployment): configure a real provider (docs/payments.md), or set "
    "LICENSOR_ALLOW_TEST_PAYMENTS=true on a staging server"
)


def setup_problem(settings: Settings) -> str | None:
    """What keeps the configured provider from starting, as far as the settings alone
    show (``licensor serve`` says it in one line rather than failing in its workers)."""
    choice = settings.payment_provider.strip()
    if choice == TEST_PROVIDER and not allows_test_payments(settings):
        return TEST_PAYMENTS_OVER_HTTPS
    if choice == STRIPE_PROVIDER:
        from licensor.store.stripe_provider import settings_problem  # it imports this module

        return settings_problem(settings)
    return None


def load_provider(settings: Settings, keyring: Keyring, clock: Clock) -> PaymentProvider:
    """The provider ``LICENSOR_PAYMENT_PROVIDER`` names: ``test``, ``stripe``, or
    ``module:factory`` where ``factory(settings, keyring, clock)`` returns a
    ``PaymentProvider``."""
    choice = settings.payment_provider.strip()
    if choice == STRIPE_PROVIDER:
        choice = "licensor.store.stripe_provider:stripe_provider"
    if choice == TEST_PROVIDER:
        if not allows_test_payments(settings):
            raise PaymentSetupError(TEST_PAYMENTS_OVER_HTTPS)
        from licensor.store.testmode import TestProvider  # it imports this module

        log.warning("payments.test_mode", hint="the store takes test cards only")
        return TestProvider(settings, keyring, clock.now)
    module_name, _, attribute = choice.partition(":")
    if not module_name or not attribute:
        raise PaymentSetupError(
            f"LICENSOR_PAYMENT_PROVIDER={choice!r}: "
            "expected 'test', 'stripe' or 'package.module:factory'"
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
