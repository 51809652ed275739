"""The Stripe provider (``LICENSOR_PAYMENT_PROVIDER=stripe``) against a local server
standing in for api.stripe.com, and Stripe's webhooks signed as Stripe documents them
(``Stripe-Signature: t=…,v1=…``, HMAC-SHA256 of "t.payload" with the endpoint secret),
posted to a real Licensor server configured for Stripe."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import func, select

from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import PaymentSetupError
from licensor.keys import Keyring
from licensor.models import (
    ActivationCode,
    CodeState,
    Order,
    OrderStatus,
    PaymentEvent,
    Subscription,
    SubscriptionStatus,
)
from licensor.ratelimit import MemoryRateLimiter
from licensor.store.payments import (
    Callback,
    CardOnFile,
    PaymentOutcome,
    PaymentResult,
    RecurringCharge,
    RefundRequest,
    SetupResult,
    load_provider,
)
from licensor.store.stripe_provider import StripeProvider
from tests.accounts.factories import TOTP_SECRET, MakeAccount, OpenBrowser, fresh_email, outbox
from tests.cli_support import cli_environment, console_script
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan
from tests.support import free_port, serve
from tests.support.factories import sign_in_with_two_factor

SECRET_KEY = "sk_test_licensor_" + "x" * 24
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)
WEBHOOK = "/api/v1/payments/stripe/webhook"
DECLINED_METHOD = "pm_card_chargeDeclined"


# --- a local api.stripe.com -------------------------------------------------------------------


@dataclass
class StripeCall:
    method: str
    path: str
    idempotency_key: str | None
    form: dict[str, str]


@dataclass
class FakeStripe:
    """Answers the few calls the provider makes, as Stripe would; records each call.
    A repeated idempotency key is answered with the first answer, as Stripe does."""

    url: str = ""
    calls: list[StripeCall] = field(default_factory=list)
    answered: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def made(self, path: str) -> list[StripeCall]:
        return [call for call in self.calls if call.path == path]

    def answer(self, call: StripeCall) -> tuple[int, dict[str, Any]]:
        if call.idempotency_key and call.idempotency_key in self.answered:
            return self.answered[call.idempotency_key]
        status, body = self._new(call)
        if call.idempotency_key:
            self.answered[call.idempotency_key] = (status, body)
        return status, body

    def _new(self, call: StripeCall) -> tuple[int, dict[str, Any]]:
        number = len(self.calls)
        if call.path == "/v1/checkout/sessions":
            session_id = f"cs_test_{number}"
            return 200, {
                "id": session_id,
                "object": "checkout.session",
                "mode": call.form.get("mode"),
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            }
        if call.path == "/v1/refunds":
            return 200, {
                "id": f"re_{number}",
                "object": "refund",
                "status": "succeeded",
                "payment_intent": call.form["payment_intent"],
            }
        if call.path == "/v1/payment_intents":
            if call.form.get("payment_method") == DECLINED_METHOD:
                return 402, {
                    "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "message": "Your card was declined.",
                    }
                }
            return 200, {
                "id": f"pi_{number}",
                "object": "payment_intent",
                "status": "succeeded",
                "amount": int(call.form["amount"]),
                "currency": call.form["currency"],
            }
        if call.path.startswith("/v1/subscriptions/"):
            return 200, {
                "id": call.path.rsplit("/", 1)[1],
                "object": "subscription",
                "cancel_at_period_end": call.form["cancel_at_period_end"] == "true",
            }
        return 404, {"error": {"type": "invalid_request_error", "message": "unknown"}}


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            call = StripeCall("POST", self.path, self.headers.get("Idempotency-Key"), form)
            status, body = fake.answer(call)
            fake.calls.append(call)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            call = StripeCall("GET", path, None, dict(parse_qsl(query)))
            fake.calls.append(call)
            kind = (
                "setup_intent" if call.path.startswith("/v1/setup_intents/") else "payment_intent"
            )
            body: dict[str, Any] = {
                "id": call.path.rsplit("/", 1)[1],
                "object": kind,
                "customer": "cus_kept",
                "payment_method": {
                    "id": "pm_kept",
                    "object": "payment_method",
                    "card": {"brand": "visa", "last4": "4242"},
                },
            }
            if path == "/v1/invoice_payments":  # the payment intent that paid an invoice
                payment = {
                    "type": "payment_intent",
                    "payment_intent": f"pi_of_{call.form['invoice']}",
                }
                body = {
                    "object": "list",
                    "url": path,
                    "has_more": False,
                    "data": [{"id": "inpay_1", "object": "invoice_payment", "payment": payment}],
                }
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{http.server_port}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield fake
    http.shutdown()
    http.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def stripe_settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    return settings.model_copy(
        update={
            "payment_provider": "stripe",
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": fake_stripe.url,
        }
    )


@pytest.fixture(scope="module")
def stripe_server(
    stripe_settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    limiter: MemoryRateLimiter,
) -> Iterator[str]:
    """A Licensor server of its own, selling through Stripe."""
    app = create_app(
        stripe_settings, database=database, keyring=keyring, limiter=limiter, app_clock=clock
    )
    with serve(app) as url:
        yield url


@pytest.fixture
def stripe_api(stripe_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stripe_server, timeout=30) as client:
        yield client


# --- webhooks as Stripe signs them ----------------------------------------------------------


def event(kind: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": data},
    }


def signed(
    payload: dict[str, Any], *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    moment = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={moment},v1={digest}", "Content-Type": "application/json"}


def deliver(api: httpx.Client, payload: dict[str, Any], **signing: Any) -> httpx.Response:
    body, headers = signed(payload, **signing)
    return api.post(WEBHOOK, content=body, headers=headers)


def session_completed(reference: str, amount: int, **fields: Any) -> dict[str, Any]:
    return event(
        "checkout.session.completed",
        {
            "id": "cs_test_" + secrets.token_hex(6),
            "object": "checkout.session",
            "mode": "payment",
            "client_reference_id": reference,
            "metadata": {"reference": reference},
            "amount_total": amount,
            "currency": "eur",
            "payment_status": "paid",
            "status": "complete",
            "payment_intent": "pi_" + secrets.token_hex(8),
            **fields,
        },
    )


# --- buying codes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Purchase:
    reference: str
    email: str
    redirect: str


def buy_codes(
    form_browser: OpenBrowser, stripe_server: str, fake_stripe: FakeStripe, quantity: int = 2
) -> Purchase:
    """Buy codes in the store, as a visitor: the store sends the buyer to Checkout."""
    visitor = form_browser(stripe_server)
    email = fresh_email("buyer")
    token = visitor.csrf_token("/store/plus")
    answer = visitor.post(
        "/store/plus",
        {"quantity": str(quantity), "name": "Mario Rossi", "email": email},
        token=token,
    )
    assert answer.status_code == 303, answer.text
    created = fake_stripe.made("/v1/checkout/sessions")[-1]
    return Purchase(created.form["client_reference_id"], email, answer.headers["location"])


def order_of(database: Database, reference: str) -> Order:
    with database.transaction() as session:
        order = session.scalar(select(Order).where(Order.payment_reference == reference))
        assert order is not None
        session.expunge(order)
        return order


@pytest.fixture
def plus(make_plan: MakePlan) -> str:
    return make_plan("plus", price_cents=3999)


def test_a_purchase_opens_a_checkout_session_whose_paid_webhook_fulfils_once(
    plus: str,
    form_browser: OpenBrowser,
    stripe_server: str,
    stripe_api: httpx.Client,
    fake_stripe: FakeStripe,
    database: Database,
) -> None:
    assert "TEST MODE" in form_browser(stripe_server).get("/store/plus").text  # sk_test_
    purchase = buy_codes(form_browser, stripe_server, fake_stripe)

    created = fake_stripe.made("/v1/checkout/sessions")[-1]
    assert (
        purchase.redirect
        == f"https://checkout.stripe.com/c/pay/cs_test_{len(fake_stripe.calls) - 1}"
    )
    assert purchase.reference.startswith("pay_")
    assert created.idempotency_key is not None
    assert created.idempotency_key.startswith(purchase.reference + "_")
    assert created.form["mode"] == "payment"
    assert created.form["line_items[0][price_data][unit_amount]"] == "7998"
    assert created.form["line_items[0][price_data][currency]"] == "eur"
    assert created.form["metadata[reference]"] == purchase.reference
    assert created.form["customer_email"] == purchase.email
    assert created.form["locale"] == "en"
    assert created.form["success_url"].endswith(f"/store/orders/{purchase.reference}")
    assert order_of(database, purchase.reference).status == OrderStatus.PENDING

    paid = session_completed(purchase.reference, 7998)
    first, again = deliver(stripe_api, paid), deliver(stripe_api, paid)

    assert first.status_code == 200, first.text
    assert first.json() == {"reference": purchase.reference, "status": "paid"}
    assert again.json() == {"status": "duplicate"}
    order = order_of(database, purchase.reference)
    assert order.status == OrderStatus.PAID
    assert order.provider_payment_id == paid["data"]["object"]["payment_intent"]
    assert order.provider == "stripe"
    assert len(outbox(database, purchase.email, "order_confirmation")) == 1
    with database.transaction() as session:
        codes = session.scalar(select(func.count()).where(ActivationCode.order_id == order.id))
        events = session.scalars(select(PaymentEvent.order_id)).all()
    assert codes == 2
    assert events == [order.id]


def test_a_bad_signature_or_an_old_timestamp_is_refused_and_changes_nothing(
    plus: str,
    form_browser: OpenBrowser,
    stripe_server: str,
    stripe_api: httpx.Client,
    fake_stripe: FakeStripe,
    database: Database,
) -> None:
    purchase = buy_codes(form_browser, stripe_server, fake_stripe, quantity=1)
    paid = session_completed(purchase.reference, 3999)

    refused = [
        deliver(stripe_api, paid, secret="whsec_" + "0" * 32),
        deliver(stripe_api, paid, at=int(time.time()) - 600),
        stripe_api.post(WEBHOOK, content=json.dumps(paid).encode()),  # unsigned
    ]
    body, headers = signed(paid)
    tampered = body.replace(b'"amount_total": 3999', b'"amount_total": 1')
    refused.append(stripe_api.post(WEBHOOK, content=tampered, headers=headers))

    for answer in refused:
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "payment_callback_rejected"
    assert order_of(database, purchase.reference).status == OrderStatus.PENDING
    assert outbox(database, purchase.email) == []
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PaymentEvent)) == 0
    # Events the store does not act on are acknowledged, and nothing else.
    ignored = deliver(stripe_api, event("customer.created", {"id": "cus_1"}))
    assert ignored.json() == {"status": "ignored"}


def test_two_deliveries_at_once_fulfil_once(
    plus: str,
    form_browser: OpenBrowser,
    stripe_server: str,
    fake_stripe: FakeStripe,
    database: Database,
) -> None:
    purchase = buy_codes(form_browser, stripe_server, fake_stripe, quantity=1)
    body, headers = signed(session_completed(purchase.reference, 3999))
    answers: list[httpx.Response] = []
    start = threading.Barrier(2)

    def post() -> None:
        with httpx.Client(base_url=stripe_server, timeout=30) as client:
            start.wait()
            answers.append(client.post(WEBHOOK, content=body, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answer.status_code for answer in answers) == [200, 200]
    assert sorted(answer.json()["status"] for answer in answers) == ["duplicate", "paid"]
    assert order_of(database, purchase.reference).status == OrderStatus.PAID
    assert len(outbox(database, purchase.email, "order_confirmation")) == 1


def test_a_refund_in_stripe_or_a_dispute_blocks_the_codes(
    plus: str,
    form_browser: OpenBrowser,
    stripe_server: str,
    stripe_api: httpx.Client,
    fake_stripe: FakeStripe,
    database: Database,
) -> None:
    refunded, disputed = (
        buy_codes(form_browser, stripe_server, fake_stripe, quantity=1) for _ in range(2)
    )
    payments = {}
    for purchase in (refunded, disputed):
        paid = session_completed(purchase.reference, 3999)
        assert deliver(stripe_api, paid).status_code == 200
        payments[purchase.reference] = paid["data"]["object"]["payment_intent"]

    partly = {"id": "ch_1", "object": "charge", "refunded": False, "amount_refunded": 100}
    partly["payment_intent"] = payments[refunded.reference]
    assert deliver(stripe_api, event("charge.refunded", partly)).json() == {"status": "ignored"}
    assert order_of(database, refunded.reference).status == OrderStatus.PAID

    whole = {**partly, "refunded": True, "amount_refunded": 3999}
    assert deliver(stripe_api, event("charge.refunded", whole)).json()["status"] == "refunded"
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "charge": "ch_2",
        "payment_intent": payments[disputed.reference],
        "reason": "fraudulent",
        "amount": 3999,
    }
    assert deliver(stripe_api, event("charge.dispute.created", dispute)).status_code == 200

    for purchase in (refunded, disputed):
        order = order_of(database, purchase.reference)
        assert order.status == OrderStatus.REFUNDED
        with database.transaction() as session:
            states = session.scalars(
                select(ActivationCode.state).where(ActivationCode.order_id == order.id)
            ).all()
        assert states == [CodeState.BLOCKED]
        assert len(outbox(database, purchase.email, "order_refunded")) == 1
    assert "dp_1" in (order_of(database, disputed.reference).refund_reason or "")


def test_the_consoles_refund_asks_stripe_once_and_its_webhook_then_finds_it_done(
    plus: str,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    stripe_server: str,
    stripe_api: httpx.Client,
    fake_stripe: FakeStripe,
    database: Database,
    clock: Clock,
) -> None:
    purchase = buy_codes(form_browser, stripe_server, fake_stripe, quantity=1)
    paid = session_completed(purchase.reference, 3999)
    assert deliver(stripe_api, paid).status_code == 200
    payment_intent = paid["data"]["object"]["payment_intent"]
    number = order_of(database, purchase.reference).number
    staff = make_account(fresh_email("admin"), roles=("admin",), totp_secret=TOTP_SECRET)
    admin = form_browser(stripe_server)
    sign_in_with_two_factor(admin, staff, clock)

    path = f"/console/orders/{number}/refund"
    answer = admin.post(path, {"reason": "asked by the buyer"}, token=admin.csrf_token(path))

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith("?done=refunded")
    refund = fake_stripe.made("/v1/refunds")[-1]
    assert refund.form["payment_intent"] == payment_intent
    assert refund.idempotency_key == f"refund_{purchase.reference}"
    # Stripe's own notice of that refund finds the order refunded: no second mail.
    whole = {"id": "ch_9", "object": "charge", "refunded": True, "payment_intent": payment_intent}
    assert deliver(stripe_api, event("charge.refunded", whole)).json()["status"] == "refunded"
    assert order_of(database, purchase.reference).status == OrderStatus.REFUNDED
    assert len(outbox(database, purchase.email, "order_refunded")) == 1


# --- subscriptions billed by Stripe ---------------------------------------------------------


def invoice(
    kind: str, subscription: str, *, reason: str, amount: int, ends: datetime
) -> dict[str, Any]:
    data = {
        "id": "in_" + secrets.token_hex(8),
        "object": "invoice",
        "billing_reason": reason,
        "currency": "eur",
        "amount_paid": amount if kind == "invoice.paid" else 0,
        "amount_due": amount,
        "parent": {"subscription_details": {"subscription": subscription}},
        "lines": {"data": [{"period": {"start": 0, "end": int(ends.timestamp())}}]},
    }
    return event(kind, data)


def test_a_subscription_is_billed_by_stripe_and_its_invoices_renew_it_or_mark_it_past_due(
    make_plan: MakePlan,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    stripe_server: str,
    stripe_api: httpx.Client,
    fake_stripe: FakeStripe,
    database: Database,
    open_unit: OpenUnit,
    clock: Clock,
) -> None:
    make_plan("premium", term_days=30, subscription_price_cents=999)
    customer = make_account()
    browser = form_browser(stripe_server)
    browser.sign_in(customer)
    answer = browser.post(
        "/store/premium/subscribe",
        {"name": "Carla Verdi"},
        token=browser.csrf_token("/store/premium"),
    )
    assert answer.status_code == 303, answer.text
    created = fake_stripe.made("/v1/checkout/sessions")[-1]
    assert created.form["mode"] == "subscription"
    assert created.form["line_items[0][price_data][recurring][interval]"] == "day"
    assert created.form["line_items[0][price_data][recurring][interval_count]"] == "30"
    reference = created.form["client_reference_id"]

    completed = session_completed(
        reference,
        999,
        mode="subscription",
        payment_intent=None,
        subscription="sub_1",
        invoice="in_first",
    )
    assert deliver(stripe_api, completed).json()["status"] == "paid"
    # What a refund will name: the payment intent of the first invoice, read from Stripe.
    assert order_of(database, reference).provider_payment_id == "pi_of_in_first"
    first_end = clock.now() + timedelta(days=30)
    first = invoice(
        "invoice.paid", "sub_1", reason="subscription_create", amount=999, ends=first_end
    )
    assert deliver(stripe_api, first).json() == {"status": "ignored"}  # the checkout's own
    # An invoice that bills no new period (a change's proration) adds no term either.
    changed = invoice(
        "invoice.paid", "sub_1", reason="subscription_update", amount=120, ends=first_end
    )
    assert deliver(stripe_api, changed).json() == {"status": "ignored"}
    with database.transaction() as session:
        subscription = session.scalars(select(Subscription)).one()
    assert (subscription.provider, subscription.provider_subscription_id) == ("stripe", "sub_1")

    # Renewal turned off in My Account, then on again: Stripe is told each time.
    for action in ("cancel", "resume"):
        answer = browser.post(
            f"/account/subscriptions/{subscription.id}/{action}",
            token=browser.csrf_token("/account/subscriptions"),
        )
        assert answer.status_code == 303, answer.text
    told = [
        call.form["cancel_at_period_end"] for call in fake_stripe.made("/v1/subscriptions/sub_1")
    ]
    assert told == ["true", "false"]

    clock.advance(timedelta(days=31))
    with open_unit() as unit:
        assert unit.renewals.due() == []  # Stripe charges it, not our worker
    next_end = subscription.current_period_end + timedelta(days=30)
    renewal = invoice(
        "invoice.paid", "sub_1", reason="subscription_cycle", amount=999, ends=next_end
    )
    assert deliver(stripe_api, renewal).json() == {"status": "renewed"}
    assert deliver(stripe_api, renewal).json() == {"status": "duplicate"}
    with database.transaction() as session:
        renewed = session.get_one(Subscription, subscription.id)
        invoices = session.scalars(
            select(Order.provider_payment_id).where(
                Order.payment_reference.startswith(f"ren_{subscription.id}_")
            )
        ).all()
    assert renewed.status == SubscriptionStatus.ACTIVE
    assert renewed.current_period_end.replace(tzinfo=UTC) == next_end.replace(microsecond=0)
    assert invoices == [f"pi_of_{renewal['data']['object']['id']}"]  # refundable too
    assert len(outbox(database, customer.email, "subscription_renewed")) == 1

    failed = invoice(
        "invoice.payment_failed", "sub_1", reason="subscription_cycle", amount=999, ends=next_end
    )
    assert deliver(stripe_api, failed).json() == {"status": "past_due"}
    assert len(outbox(database, customer.email, "subscription_payment_failed")) == 1

    ended = event("customer.subscription.deleted", {"id": "sub_1", "object": "subscription"})
    assert deliver(stripe_api, ended).json() == {"status": "expired"}
    with database.transaction() as session:
        assert session.get_one(Subscription, subscription.id).status == SubscriptionStatus.EXPIRED

    # Its first payment refunded in Stripe: the order is refunded, and Stripe is told to
    # stop billing the subscription (once the refund is committed), whatever it did.
    refunded = {"id": "ch_1", "object": "charge", "refunded": True}
    refunded["payment_intent"] = "pi_of_in_first"
    assert deliver(stripe_api, event("charge.refunded", refunded)).json()["status"] == "refunded"
    assert order_of(database, reference).status == OrderStatus.REFUNDED
    told = [
        call.form["cancel_at_period_end"] for call in fake_stripe.made("/v1/subscriptions/sub_1")
    ]
    assert told == ["true", "false", "true"]


# --- refunds and renewal charges, through the provider --------------------------------------


def test_refunds_and_renewal_charges_carry_our_idempotency_keys(
    request: pytest.FixtureRequest,
    stripe_settings: Settings,
    keyring: Keyring,
    clock: Clock,
    fake_stripe: FakeStripe,
) -> None:
    provider = load_provider(stripe_settings, keyring, clock)
    assert isinstance(provider, StripeProvider)
    request.addfinalizer(provider.close)
    assert provider.test_mode

    asked = RefundRequest(
        reference="refund_pay_abc",
        order_number="ORD-TEST-0001",
        payment_reference="pay_abc",
        provider_payment_id="pi_paid",
        amount_cents=3999,
        currency="EUR",
        reason="asked by the customer",
    )
    provider.refund(asked)
    # Tried again after a timeout, with the reason typed anew: the very same request,
    # since Stripe refuses a key it saw with other parameters.
    provider.refund(replace(asked, reason="the buyer asked"))
    refund, retried = fake_stripe.made("/v1/refunds")[-2:]
    assert (refund.idempotency_key, refund.form["payment_intent"]) == ("refund_pay_abc", "pi_paid")
    assert (retried.idempotency_key, retried.form) == (refund.idempotency_key, refund.form)

    renewal = RecurringCharge(
        reference="ren_7_20260101000000_0_abcd",
        payment_method="cus_1:pm_card_visa",
        amount_cents=999,
        currency="EUR",
        description="Premium subscription renewal",
        customer_email="a@example.com",
    )
    paid = provider.charge(renewal)
    again = provider.charge(renewal)
    charge = fake_stripe.made("/v1/payment_intents")[-1]
    assert paid.outcome == PaymentOutcome.PAID
    assert again.provider_payment_id == paid.provider_payment_id  # one key, one payment
    assert charge.idempotency_key == renewal.reference
    assert (charge.form["off_session"], charge.form["confirm"]) == ("true", "true")
    assert (charge.form["customer"], charge.form["payment_method"]) == ("cus_1", "pm_card_visa")
    declined = provider.charge(
        RecurringCharge(
            **{
                **renewal.__dict__,
                "reference": "ren_8_x",
                "payment_method": f"cus_1:{DECLINED_METHOD}",
            }
        )
    )
    assert declined.outcome == PaymentOutcome.FAILED


def test_a_card_kept_for_renewals_our_worker_charges_is_read_from_stripe(
    request: pytest.FixtureRequest,
    stripe_settings: Settings,
    keyring: Keyring,
    clock: Clock,
    fake_stripe: FakeStripe,
) -> None:
    provider = load_provider(stripe_settings, keyring, clock)
    request.addfinalizer(cast(StripeProvider, provider).close)
    kept = session_completed(
        "pay_long", 9999, metadata={"reference": "pay_long", "keeps_card": "yes"}
    )
    setup = session_completed("card_1_2_3_4", 0, mode="setup", setup_intent="seti_1")

    paid = provider.verify(Callback(*_lowered(signed(kept))))
    saved = provider.verify(Callback(*_lowered(signed(setup))))

    assert isinstance(paid, PaymentResult)
    assert isinstance(saved, SetupResult)
    assert paid.payment_method == saved.payment_method == "cus_kept:pm_kept"
    assert paid.card == saved.card == CardOnFile("Visa", "4242")
    assert saved.reference == "card_1_2_3_4"
    assert (
        fake_stripe.calls[-2].path
        == f"/v1/payment_intents/{kept['data']['object']['payment_intent']}"
    )
    assert fake_stripe.calls[-1].path == "/v1/setup_intents/seti_1"


def _lowered(message: tuple[bytes, dict[str, str]]) -> tuple[bytes, dict[str, str]]:
    body, headers = message
    return body, {name.lower(): value for name, value in headers.items()}


def test_a_missing_secret_refuses_to_start_in_one_line(
    stripe_settings: Settings,
    database: Database,  # migrated: `serve` checks the schema before the provider
    keyring: Keyring,
    clock: Clock,
    tmp_path: Path,
) -> None:
    for missing in ({"stripe_secret_key": ""}, {"stripe_webhook_secret": ""}):
        with pytest.raises(PaymentSetupError, match=r"LICENSOR_STRIPE_\w+ \(docs"):
            load_provider(stripe_settings.model_copy(update=missing), keyring, clock)
    # A test key where real customers buy (https) would sell codes for public test cards.
    live_site = stripe_settings.model_copy(update={"base_url": "https://shop.example"})
    with pytest.raises(PaymentSetupError, match="is a test key"):
        load_provider(live_site, keyring, clock)
    staging = live_site.model_copy(update={"allow_test_payments": True})
    assert load_provider(staging, keyring, clock).test_mode

    environment = cli_environment(tmp_path, stripe_settings.database_url)
    environment["LICENSOR_KEYS_DIR"] = str(stripe_settings.resolved_keys_dir)
    environment["LICENSOR_PAYMENT_PROVIDER"] = "stripe"
    environment["LICENSOR_STRIPE_SECRET_KEY"] = SECRET_KEY
    started = subprocess.run(
        [str(console_script("licensor")), "serve", "--port", str(free_port())],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert started.returncode == 1
    assert started.stderr.strip().splitlines() == [
        "error: LICENSOR_PAYMENT_PROVIDER=stripe needs LICENSOR_STRIPE_WEBHOOK_SECRET "
        "(docs/payments.md)"
    ]
