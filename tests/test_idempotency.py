"""Every POST of the API accepts an ``Idempotency-Key`` with Stripe's semantics: the same
key and body within 24 hours gives the stored answer and does nothing again; the same key
with another body is 422 ``idempotency_key_reused``."""

from __future__ import annotations

import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import Activation, Order
from licensor.worker import build_worker
from tests.licensing.factories import MakeCode, activation, device
from tests.limits import StartLimitedServer
from tests.store.factories import (
    ORDERS,
    Allocate,
    MakePartner,
    MakeSeller,
    PartnerKey,
    Seller,
    bearer,
    partner_sale,
)
from tests.support import assert_problem

ACTIVATIONS = "/api/v1/activations"


def key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def seller(make_seller: MakeSeller) -> Seller:
    return make_seller(count=4)


def orders(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count(Order.id))) or 0


def test_a_retried_sale_with_the_same_key_is_recorded_once_and_answered_the_same(
    api: httpx.Client, database: Database, seller: Seller
) -> None:
    auth, codes = seller.auth, seller.codes
    headers = {**auth, "Idempotency-Key": key()}
    body = partner_sale(codes[:2], "WEB-1001")

    first = api.post(ORDERS, json=body, headers=headers)
    again = api.post(ORDERS, json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["content-type"] == "application/json"
    assert orders(database) == 1
    # Without the key the retry is a second request: the order exists already.
    assert_problem(api.post(ORDERS, json=body, headers=auth), 409, "order_exists")


def test_the_same_key_with_another_body_is_refused_and_does_nothing(
    api: httpx.Client, database: Database, seller: Seller
) -> None:
    auth, codes = seller.auth, seller.codes
    headers = {**auth, "Idempotency-Key": key()}
    assert (
        api.post(ORDERS, json=partner_sale(codes[:1], "WEB-2001"), headers=headers).status_code
        == 201
    )

    reused = api.post(ORDERS, json=partner_sale(codes[1:2], "WEB-2002"), headers=headers)

    assert_problem(reused, 422, "idempotency_key_reused")
    assert orders(database) == 1


def test_a_key_belongs_to_its_caller(
    api: httpx.Client,
    database: Database,
    make_partner: MakePartner,
    partner_key: PartnerKey,
    allocate: Allocate,
) -> None:
    shared = key()
    for number in ("WEB-3001", "WEB-3002"):
        slug = make_partner().slug
        headers = {**bearer(partner_key(slug)), "Idempotency-Key": shared}
        answer = api.post(
            ORDERS, json=partner_sale(allocate(slug, count=1), number), headers=headers
        )
        assert answer.status_code == 201, answer.text
        assert "idempotent-replayed" not in answer.headers
    assert orders(database) == 2


def test_an_activation_retried_with_its_key_gets_the_same_license_and_takes_one_seat(
    api: httpx.Client, database: Database, make_code: MakeCode
) -> None:
    code, headers = make_code(), {"Idempotency-Key": key()}
    body = activation(code, device())

    first = api.post(ACTIVATIONS, json=body, headers=headers)
    again = api.post(ACTIVATIONS, json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # the very answer: same license file, same signature
    with database.transaction() as session:
        assert session.scalar(select(func.count(Activation.id))) == 1


def test_an_answer_is_kept_encrypted(
    api: httpx.Client, database: Database, make_code: MakeCode
) -> None:
    answer = api.post(
        ACTIVATIONS, json=activation(make_code(), device()), headers={"Idempotency-Key": key()}
    )
    license_key = answer.json()["license_key"]
    with database.engine.connect() as connection:
        kept = connection.execute(text("SELECT response_ciphertext FROM idempotency_keys")).all()
    assert len(kept) == 1
    stored = bytes(kept[0][0])
    assert license_key.encode() not in stored
    assert license_key.replace("-", "").encode() not in stored


def test_a_key_is_forgotten_after_a_day(
    api: httpx.Client, database: Database, seller: Seller, clock: Clock
) -> None:
    auth, codes = seller.auth, seller.codes
    headers = {**auth, "Idempotency-Key": key()}
    assert (
        api.post(ORDERS, json=partner_sale(codes[:1], "WEB-4001"), headers=headers).status_code
        == 201
    )

    clock.advance(timedelta(hours=24, seconds=1))
    later = api.post(ORDERS, json=partner_sale(codes[1:2], "WEB-4002"), headers=headers)

    assert later.status_code == 201, later.text
    assert "idempotent-replayed" not in later.headers
    assert orders(database) == 2


def test_an_answer_that_changed_nothing_is_not_kept(
    limited_server: StartLimitedServer, make_code: MakeCode
) -> None:
    """A 429 (or a 5xx) is not the request's outcome: the retry runs it."""
    with limited_server(activation_rate="1/minute") as server:
        assert server.api.post(ACTIVATIONS, json=activation(make_code(), device())).is_success
        headers = {"Idempotency-Key": key()}
        body = activation(make_code(), device())
        assert_problem(
            server.api.post(ACTIVATIONS, json=body, headers=headers), 429, "rate_limited"
        )

        server.limiter_time.now += 60
        retried = server.api.post(ACTIVATIONS, json=body, headers=headers)

        assert retried.status_code == 201, retried.text
        assert "idempotent-replayed" not in retried.headers


def test_validation_accepts_a_key_too(api: httpx.Client, make_code: MakeCode) -> None:
    machine = device()
    activated = api.post(ACTIVATIONS, json=activation(make_code(), machine)).json()
    body = {
        "license_key": activated["license_key"],
        "fingerprint": machine["fingerprint"],
        "nonce": secrets.token_hex(16),
    }
    headers = {"Idempotency-Key": key()}

    first = api.post("/api/v1/licenses/validate", json=body, headers=headers)
    again = api.post("/api/v1/licenses/validate", json=body, headers=headers)

    assert first.status_code == again.status_code == 200
    assert first.json()["valid"] is True
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("bad", ["", "x" * 256, "two words", "caf\u00e9"])
def test_a_malformed_key_is_refused(api: httpx.Client, make_code: MakeCode, bad: str) -> None:
    answer = api.post(
        ACTIVATIONS,
        json=activation(make_code(), device()),
        headers=[(b"Idempotency-Key", bad.encode())],
    )
    assert_problem(answer, 422, "validation_failed")


@pytest.mark.postgres_only
def test_the_same_key_sent_ten_times_at_once_records_one_sale(
    server: str, database: Database, seller: Seller
) -> None:
    auth, codes = seller.auth, seller.codes
    headers = {**auth, "Idempotency-Key": key()}
    body = partner_sale(codes[:2], "WEB-5001")

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=server, timeout=30) as client:
            return client.post(ORDERS, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(send, range(10)))

    assert orders(database) == 1
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "idempotency_request_in_progress")
            assert answer.headers["retry-after"] == "1"
    created = [answer.json() for answer in answers if answer.status_code == 201]
    assert all(body == created[0] for body in created)


def test_the_worker_forgets_keys_older_than_a_day(
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    make_code: MakeCode,
    clock: Clock,
) -> None:
    api.post(
        ACTIVATIONS, json=activation(make_code(), device()), headers={"Idempotency-Key": key()}
    )
    # As `licensor worker` runs it, hourly.
    purge = build_worker(database, keyring, settings, clock.now).task("idempotency.purge")
    assert purge(clock.now()) == 0  # a fresh key stays

    clock.advance(timedelta(hours=23))
    assert purge(clock.now()) == 0  # still within its day
    clock.advance(timedelta(minutes=90))
    assert purge(clock.now()) == 1
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM idempotency_keys")).scalar() == 0
