"""Merchant-of-record stores' fulfilment webhooks (store/fulfilment/), through the real
server: Paddle Billing, Lemon Squeezy and FastSpring deliveries signed exactly as each
store documents, posted to ``/api/v1/fulfilment/{provider}/webhook``.

A paid order becomes our order once, under the store's own order number (whatever the
deliveries repeat, or race on PostgreSQL), with its codes mailed; a refund blocks them; a
delivery not signed (or, for Paddle, signed long ago) changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import ActivationCode, Order, OrderStatus, PaymentEvent
from licensor.store.fulfilment import read_delivery
from licensor.store.fulfilment.core import Ignored, Sale
from tests.accounts.factories import Browser, fresh_email, outbox
from tests.licensing.factories import MakePlan, try_activate
from tests.mail_support import SmtpServer, text_of
from tests.support import assert_problem, audit_events, wait_until

Delivery = tuple[bytes, dict[str, str]]
CODE = re.compile(r"\b[0-9A-Z]{5}(?:-[0-9A-Z]{5}){3}\b")


@pytest.fixture(autouse=True)
def plans(make_plan: MakePlan) -> None:
    # The names tests/conftest.py's LICENSOR_FULFILMENT_PRODUCTS maps products to.
    make_plan("standard", price_cents=3999)
    make_plan("plus", price_cents=5999)


def webhook(provider: str) -> str:
    return f"/api/v1/fulfilment/{provider}/webhook"


def post(api: httpx.Client, provider: str, delivery: Delivery) -> httpx.Response:
    body, headers = delivery
    return api.post(webhook(provider), content=body, headers=headers)


def unique(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


# --- deliveries, shaped and signed as each store documents -----------------------------------


def paddle_signed(settings: Settings, event: dict[str, Any], timestamp: int) -> Delivery:
    """``Paddle-Signature: ts=…;h1=…``: HMAC-SHA256 of "ts:raw body" with the secret."""
    body = json.dumps(event).encode()
    signed = f"{timestamp}:".encode() + body
    digest = hmac.new(settings.paddle_webhook_secret.encode(), signed, hashlib.sha256)
    return body, {
        "content-type": "application/json",
        "paddle-signature": f"ts={timestamp};h1={digest.hexdigest()}",
    }


def paddle_transaction(
    transaction_id: str, email: str, *, price: str = "pri_01hstandard", quantity: int = 1
) -> dict[str, Any]:
    return {
        "event_id": unique("evt_01h"),
        "event_type": "transaction.completed",
        "occurred_at": "2026-12-05T10:00:00.000000Z",
        "notification_id": unique("ntf_01h"),
        "data": {
            "id": transaction_id,
            "status": "completed",
            "customer_id": "ctm_01hv8x2mqz3s0e0n3qmq4e3d2x",
            "custom_data": {"email": email, "name": "Mario Rossi", "language": "it"},
            "currency_code": "EUR",
            "origin": "web",
            "invoice_number": f"325-{secrets.randbelow(10**6):06d}",
            "items": [
                {
                    "price": {
                        "id": price,
                        "product_id": "pro_01hv8x0000000000000000000",
                        "unit_price": {"amount": "3999", "currency_code": "EUR"},
                    },
                    "quantity": quantity,
                }
            ],
            "details": {
                "totals": {
                    "subtotal": str(3278 * quantity),
                    "tax": str(721 * quantity),
                    "total": str(3999 * quantity),
                    "grand_total": str(3999 * quantity),
                    "currency_code": "EUR",
                }
            },
            "payments": [
                {"payment_attempt_id": "c3ad6a8e-0f39-4a1d-9d1e-6c0c4a0c2b1f", "status": "captured"}
            ],
        },
    }


def paddle_refund(transaction_id: str) -> dict[str, Any]:
    return {
        "event_id": unique("evt_01h"),
        "event_type": "adjustment.updated",
        "occurred_at": "2026-12-06T10:00:00.000000Z",
        "notification_id": unique("ntf_01h"),
        "data": {
            "id": unique("adj_01h"),
            "action": "refund",
            "type": "full",
            "status": "approved",
            "reason": "customer changed their mind",
            "transaction_id": transaction_id,
            "currency_code": "EUR",
        },
    }


def lemonsqueezy_signed(settings: Settings, payload: dict[str, Any]) -> Delivery:
    """``X-Signature``: hex HMAC-SHA256 of the raw body with the signing secret."""
    body = json.dumps(payload).encode()
    digest = hmac.new(settings.lemonsqueezy_webhook_secret.encode(), body, hashlib.sha256)
    return body, {"content-type": "application/json", "x-signature": digest.hexdigest()}


def lemonsqueezy_order(event_name: str, order_id: int, email: str) -> dict[str, Any]:
    refunded = event_name == "order_refunded"
    return {
        "meta": {"event_name": event_name, "custom_data": {}, "test_mode": True},
        "data": {
            "type": "orders",
            "id": str(order_id),
            "attributes": {
                "store_id": 1,
                "identifier": "89b36d62-4f2c-4e5e-8b21-2a3b8f5e2c11",
                "order_number": order_id,
                "user_name": "Anna Bianchi",
                "user_email": email,
                "currency": "USD",
                "subtotal": 4999,
                "tax": 1000,
                "total": 5999,
                "status": "refunded" if refunded else "paid",
                "refunded": refunded,
                "first_order_item": {
                    "product_id": 111,
                    "variant_id": 424242,
                    "product_name": "Suite",
                    "price": 4999,
                    "quantity": 2,
                },
            },
        },
    }


def fastspring_signed(settings: Settings, events: list[dict[str, Any]]) -> Delivery:
    """``X-FS-Signature``: base64 HMAC-SHA256 of the raw body with the HMAC secret."""
    body = json.dumps({"events": events}).encode()
    digest = hmac.new(settings.fastspring_webhook_secret.encode(), body, hashlib.sha256)
    signature = base64.b64encode(digest.digest()).decode()
    return body, {"content-type": "application/json", "x-fs-signature": signature}


def fastspring_order(reference: str, email: str, product: str = "suite-1y") -> dict[str, Any]:
    return {
        "id": unique("evt"),
        "type": "order.completed",
        "live": False,
        "created": 1765000000000,
        "data": {
            "order": unique("ord"),
            "reference": reference,
            "completed": True,
            "currency": "EUR",
            "total": 39.99,
            "tax": 7.21,
            "language": "en",
            "customer": {"first": "Luca", "last": "Verdi", "email": email},
            "items": [{"product": product, "quantity": 1, "subtotal": 39.99}],
        },
    }


def fastspring_return(reference: str) -> dict[str, Any]:
    return {
        "id": unique("evt"),
        "type": "return.created",
        "created": 1765000100000,
        "data": {
            "return": unique("ret"),
            "reason": "Duplicate order",
            "original": {"reference": reference},
        },
    }


# --- reading what happened -------------------------------------------------------------------


def orders_of(database: Database, provider: str, provider_order_id: str) -> list[Order]:
    with database.transaction() as session:
        return list(
            session.scalars(
                select(Order).where(
                    Order.provider == provider, Order.provider_order_id == provider_order_id
                )
            )
        )


def codes_of(database: Database, order: Order) -> list[ActivationCode]:
    with database.transaction() as session:
        return list(
            session.scalars(select(ActivationCode).where(ActivationCode.order_id == order.id))
        )


def count(database: Database, model: type[Any]) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def found_by_lookup(
    visitor: Browser, run_jobs: Callable[[], None], database: Database, order: Order
) -> int:
    """Order lookup (F5) filled in as the order's buyer would: the confirmations queued to
    the buyer since the order was made, the one sent again included."""
    fields = {
        "where": "store",
        "order_number": order.number,
        "purchased_on": order.purchased_at.date().isoformat(),
        "name": order.customer_name,
        "email": order.customer_email,
    }
    token = visitor.csrf_token("/orders/lookup")
    assert visitor.post("/orders/lookup", fields, token=token).status_code == 200
    run_jobs()
    return len(outbox(database, order.customer_email, "order_confirmation"))


def codes_mailed(database: Database, keyring: Keyring, email: str) -> list[str]:
    """The codes in the confirmation mail queued to ``email`` (there must be one)."""
    [confirmation] = outbox(database, email, "order_confirmation")
    return CODE.findall(bodies(keyring, confirmation)[0])


# --- Paddle Billing --------------------------------------------------------------------------


def test_a_paid_paddle_transaction_is_our_order_once_mailed_found_and_blocked_by_its_refund(
    api: httpx.Client,
    settings: Settings,
    clock: Clock,
    database: Database,
    keyring: Keyring,
    mail_worker: SmtpServer,
    visitor: Browser,
) -> None:
    email = fresh_email("paddle-buyer")
    transaction_id = unique("txn_01h")
    event = paddle_transaction(transaction_id, email, quantity=2)
    now = int(clock.now().timestamp())

    first = post(api, "paddle", paddle_signed(settings, event, now))
    again = post(api, "paddle", paddle_signed(settings, event, now))  # Paddle retries

    assert first.status_code == 200, first.text
    number = event["data"]["invoice_number"]
    assert first.json()["events"] == [
        {"event_id": event["event_id"], "status": "fulfilled", "order": number}
    ]
    assert again.json()["events"] == [{"event_id": event["event_id"], "status": "duplicate"}]
    [order] = orders_of(database, "paddle", transaction_id)
    assert (order.number, order.channel, order.status) == (number, "store", OrderStatus.PAID)
    assert (order.currency, order.total_cents, order.tax_cents) == ("EUR", 7998, 1442)
    assert (order.customer_email, order.language) == (email, "it")
    assert len(codes_of(database, order)) == 2
    # Our confirmation, with Paddle's number, in the buyer's language, once.
    codes = codes_mailed(database, keyring, email)
    assert len(codes) == 2
    mail = mail_worker.inbox.to(email, number)
    assert all(code in text_of(mail) for code in codes)

    # Order lookup (F5) finds it by the number on Paddle's receipt, and mails it again.
    lookup = {
        "where": "store",
        "order_number": number,
        "purchased_on": clock.now().date().isoformat(),
        "name": "Mario Rossi",
        "email": email,
    }
    token = visitor.csrf_token("/orders/lookup")
    assert visitor.post("/orders/lookup", lookup, token=token).status_code == 200

    def mails_naming_the_order() -> int:
        return sum(
            str(message["To"]) == email and number in str(message["Subject"])
            for message in mail_worker.inbox.messages
        )

    wait_until(lambda: mails_naming_the_order() == 2, "the confirmation sent again")

    # The refund, approved in Paddle, blocks the codes and tells the buyer.
    refund = post(api, "paddle", paddle_signed(settings, paddle_refund(transaction_id), now))
    assert refund.json()["events"][0]["status"] == "refunded"
    [order] = orders_of(database, "paddle", transaction_id)
    assert order.status == OrderStatus.REFUNDED
    for code in codes:
        assert_problem(try_activate(api, code), 403, "code_blocked")
    assert len(outbox(database, email, "order_refunded")) == 1


def test_a_delivery_not_signed_by_the_store_or_signed_long_ago_is_refused_and_changes_nothing(
    api: httpx.Client, settings: Settings, clock: Clock, database: Database
) -> None:
    email = fresh_email("forger")
    now = int(clock.now().timestamp())
    event = paddle_transaction(unique("txn_01h"), email)
    body, headers = paddle_signed(settings, event, now)
    tampered = body.replace(b'"quantity": 1', b'"quantity": 9')
    wrong_secret = Settings(paddle_webhook_secret="pdl_ntfset_guess", _env_file=None)
    ls_body, ls_headers = lemonsqueezy_signed(
        settings, lemonsqueezy_order("order_created", 7, email)
    )
    fs_body, fs_headers = fastspring_signed(settings, [fastspring_order(unique("FUR"), email)])

    refusals = [
        post(api, "paddle", (tampered, headers)),
        post(api, "paddle", paddle_signed(wrong_secret, event, now)),
        post(api, "paddle", paddle_signed(settings, event, now - 3600)),  # a replay
        post(api, "paddle", paddle_signed(settings, event, now + 3600)),
        post(api, "paddle", (body, {"content-type": "application/json"})),
        post(api, "lemonsqueezy", (ls_body + b" ", ls_headers)),
        post(api, "lemonsqueezy", (ls_body, {**ls_headers, "x-signature": "0" * 64})),
        post(api, "fastspring", (fs_body.replace(b"39.99", b"0.01"), fs_headers)),
        post(api, "fastspring", (fs_body, {"content-type": "application/json"})),
        # A signature of other than ASCII characters (headers arrive as Latin-1).
        api.post(
            webhook("fastspring"),
            content=fs_body,
            headers={
                b"content-type": b"application/json",
                b"x-fs-signature": "é=".encode("latin-1"),
            },
        ),
    ]

    for response in refusals:
        assert_problem(response, 400, "fulfilment_webhook_rejected")
    assert count(database, Order) == 0
    assert count(database, PaymentEvent) == 0
    assert outbox(database, email) == []
    # A store that is not configured here, or no store at all, has no webhook.
    assert_problem(api.post(webhook("gumroad"), content=body, headers=headers), 404, "not_found")


def test_a_stores_test_order_makes_no_codes_where_real_customers_buy(
    settings: Settings, clock: Clock
) -> None:
    """Test cards are public and a store's test checkout is open: as our own test provider,
    its orders make codes only over plain http or with LICENSOR_ALLOW_TEST_PAYMENTS."""
    email = fresh_email("tester")
    live = settings.model_copy(update={"base_url": "https://licensor.example"})
    staging = live.model_copy(update={"allow_test_payments": True})
    deliveries = {
        "fastspring": fastspring_signed(settings, [fastspring_order(unique("FUR"), email)]),
        "lemonsqueezy": lemonsqueezy_signed(
            settings, lemonsqueezy_order("order_created", 8, email)
        ),
    }

    for provider, (body, headers) in deliveries.items():
        [refused] = read_delivery(provider, body, headers, live, clock.now())
        [sold] = read_delivery(provider, body, headers, staging, clock.now())
        assert isinstance(refused, Ignored), provider
        assert refused.why == "test order"
        assert isinstance(sold, Sale), provider
        assert sold.test_order


# --- Lemon Squeezy ---------------------------------------------------------------------------


def test_a_lemon_squeezy_order_is_fulfilled_once_and_its_refund_blocks_its_codes(
    api: httpx.Client,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    visitor: Browser,
    run_jobs: Callable[[], None],
) -> None:
    email = fresh_email("ls-buyer")
    order_id = secrets.randbelow(10**9)
    paid = lemonsqueezy_signed(settings, lemonsqueezy_order("order_created", order_id, email))

    answers = [post(api, "lemonsqueezy", paid).json() for _ in range(2)]

    assert [answer["events"][0]["status"] for answer in answers] == ["fulfilled", "duplicate"]
    [order] = orders_of(database, "lemonsqueezy", str(order_id))
    assert (order.number, order.currency, order.total_cents, order.tax_cents) == (
        str(order_id),
        "USD",
        5999,
        1000,
    )
    codes = codes_mailed(database, keyring, email)
    assert len(codes) == 2
    assert found_by_lookup(visitor, run_jobs, database, order) == 2

    refunded = lemonsqueezy_signed(settings, lemonsqueezy_order("order_refunded", order_id, email))
    assert post(api, "lemonsqueezy", refunded).json()["events"][0]["status"] == "refunded"
    assert post(api, "lemonsqueezy", refunded).json()["events"][0]["status"] == "duplicate"

    for code in codes:
        assert_problem(try_activate(api, code), 403, "code_blocked")
    assert len(outbox(database, email, "order_refunded")) == 1


# --- FastSpring ------------------------------------------------------------------------------


def test_a_fastspring_delivery_acts_on_each_of_its_events_once(
    api: httpx.Client,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    visitor: Browser,
    run_jobs: Callable[[], None],
) -> None:
    first_email, second_email = fresh_email("fs-one"), fresh_email("fs-two")
    first, second = unique("FUR261205-"), unique("FUR261205-")
    delivery = fastspring_signed(
        settings, [fastspring_order(first, first_email), fastspring_order(second, second_email)]
    )

    statuses = [
        [event["status"] for event in post(api, "fastspring", delivery).json()["events"]]
        for _ in range(2)
    ]

    assert statuses == [["fulfilled", "fulfilled"], ["duplicate", "duplicate"]]
    [order] = orders_of(database, "fastspring", first)
    assert (order.number, order.total_cents, order.tax_cents, order.customer_name) == (
        first,
        3999,
        721,
        "Luca Verdi",
    )
    assert len(codes_mailed(database, keyring, first_email)) == 1
    assert len(codes_mailed(database, keyring, second_email)) == 1
    assert found_by_lookup(visitor, run_jobs, database, order) == 2

    refund = fastspring_signed(settings, [fastspring_return(second)])
    assert post(api, "fastspring", refund).json()["events"][0]["status"] == "refunded"
    [refunded] = orders_of(database, "fastspring", second)
    assert refunded.status == OrderStatus.REFUNDED
    assert refunded.refund_reason == "fastspring: Duplicate order"
    assert orders_of(database, "fastspring", first)[0].status == OrderStatus.PAID


def license_request(settings: Settings, **fields: str) -> dict[str, str]:
    """A remote license request's form, signed as FastSpring documents: the MD5 of the
    values in the order of their names, followed by the generator's private key."""
    signed = "".join(value for _, value in sorted(fields.items()))
    signed += settings.fastspring_license_key
    digest = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()
    return {**fields, "security_request_hash": digest}


def test_fastspring_s_license_generator_gets_the_codes_for_its_receipt_and_we_mail_nothing(
    api: httpx.Client, settings: Settings, database: Database
) -> None:
    email = fresh_email("fs-receipt")
    reference = unique("FUR261205-")
    generator = "/api/v1/fulfilment/fastspring/license/suite-1y"
    form = license_request(
        settings, reference=reference, email=email, name="Luca Verdi", quantity="2"
    )

    first = api.post(generator, data=form)
    again = api.post(generator, data=form)  # FastSpring asking again after a timeout
    forged = api.post(generator, data={**form, "quantity": "50"})

    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/plain")
    codes = first.text.splitlines()
    assert len(codes) == 2
    assert all(CODE.fullmatch(code) for code in codes)
    assert again.text.splitlines() == codes
    assert_problem(forged, 400, "fulfilment_webhook_rejected")
    [order] = orders_of(database, "fastspring", reference)
    assert (order.number, order.customer_email) == (reference, email)
    assert len(audit_events(database, "store.codes_handed_back")) == 1

    # The order.completed webhook that follows finds the order and adds its amounts.
    completed = fastspring_signed(settings, [fastspring_order(reference, email)])
    assert post(api, "fastspring", completed).json()["events"][0]["status"] == "exists"
    [order] = orders_of(database, "fastspring", reference)
    assert (order.currency, order.total_cents, order.tax_cents) == ("EUR", 3999, 721)
    assert outbox(database, email) == []  # FastSpring's receipt carries the codes


def test_an_order_we_cannot_deliver_issues_nothing_and_the_admin_sees_it_in_the_audit_log(
    api: httpx.Client, settings: Settings, clock: Clock, database: Database
) -> None:
    email = fresh_email("fs-unknown")
    reference = unique("FUR261205-")
    unknown_product = fastspring_signed(
        settings, [fastspring_order(reference, email, "mystery-box")]
    )
    no_buyer = paddle_transaction(unique("txn_01h"), email)
    no_buyer["data"]["custom_data"] = None  # the checkout passed no customData
    renewal = paddle_transaction(unique("txn_01h"), email)
    renewal["data"]["origin"] = "subscription_recurring"
    now = int(clock.now().timestamp())

    answers = [
        post(api, "fastspring", unknown_product),
        post(api, "paddle", paddle_signed(settings, no_buyer, now)),
        post(api, "paddle", paddle_signed(settings, renewal, now)),
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    statuses = [answer.json()["events"][0]["status"] for answer in answers]
    assert statuses == ["unmatched", "unmatched", "ignored"]
    assert count(database, Order) == 0
    assert outbox(database, email) == []
    unknown, nobody = audit_events(database, "store.fulfilment_unmatched")
    assert (unknown.actor, unknown.reason) == ("fulfilment:fastspring", "no_plan")
    assert unknown.details["products"] == ["mystery-box"]
    assert unknown.details["provider_order_id"] == reference
    assert (nobody.actor, nobody.reason) == ("fulfilment:paddle", "email_invalid")


# --- at the same moment ----------------------------------------------------------------------


@pytest.mark.postgres_only
def test_deliveries_racing_each_other_make_one_order(
    server: str, settings: Settings, clock: Clock, database: Database
) -> None:
    """The same delivery twice at once, and two events of one order at once: the
    event's row and the order's unique index make the second wait, then do nothing."""
    email = fresh_email("racer")
    now = int(clock.now().timestamp())
    twice, twins, reference = unique("txn_01h"), unique("txn_01h"), unique("FUR261205-")
    same = paddle_signed(settings, paddle_transaction(twice, email), now)
    fs_same = fastspring_signed(settings, [fastspring_order(reference, email)])
    ls_order = secrets.randbelow(10**9)
    ls_same = lemonsqueezy_signed(settings, lemonsqueezy_order("order_created", ls_order, email))
    races: list[tuple[str, Delivery, Delivery, list[str]]] = [
        ("paddle", same, same, ["duplicate", "fulfilled"]),
        # Two events (two ids) of one transaction: they meet on the order's unique index.
        (
            "paddle",
            paddle_signed(settings, paddle_transaction(twins, email), now),
            paddle_signed(settings, paddle_transaction(twins, email), now),
            ["exists", "fulfilled"],
        ),
        ("fastspring", fs_same, fs_same, ["duplicate", "fulfilled"]),
        ("lemonsqueezy", ls_same, ls_same, ["duplicate", "fulfilled"]),
    ]

    for provider, one, other, outcomes in races:
        answers = at_once(server, provider, [one, other])
        assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
        statuses = sorted(answer.json()["events"][0]["status"] for answer in answers)
        assert statuses == outcomes

    made = [("paddle", twice), ("paddle", twins), ("fastspring", reference)]
    made.append(("lemonsqueezy", str(ls_order)))
    for provider, order_id in made:
        assert len(orders_of(database, provider, order_id)) == 1
    assert len(outbox(database, email, "order_confirmation")) == 4  # one per order


def at_once(server: str, provider: str, deliveries: list[Delivery]) -> list[httpx.Response]:
    """Post the deliveries from as many threads, released together."""
    start = threading.Barrier(len(deliveries))
    answers: dict[int, httpx.Response] = {}

    def send(index: int, delivery: Delivery) -> None:
        with httpx.Client(base_url=server, timeout=30) as client:
            start.wait(10)
            answers[index] = post(client, provider, delivery)

    threads = [
        threading.Thread(target=send, args=(index, delivery))
        for index, delivery in enumerate(deliveries)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return [answers[index] for index in range(len(deliveries))]
