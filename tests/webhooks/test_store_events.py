"""The store's events as a vendor's receiver gets them: an order paid and refunded (its
codes blocked with it), a subscription renewed by the worker, then one that ran out."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import Order
from licensor.worker import build_worker
from tests.conftest import OpenUnit
from tests.store.factories import PAYS, RENEWALS_DECLINED, MakeOrder
from tests.store.test_renewals import (
    GRACE,
    TERM,
    RecordingProvider,
    Subscriber,
    provider,
    subscriber,
)
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks import allow_private, endpoint, receiver

__all__ = ["allow_private", "provider", "receiver", "subscriber"]

pytestmark = pytest.mark.usefixtures("server", "allow_private")


def events(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(item.body) for item in receiver.accepted()]


def test_an_order_paid_then_refunded_is_told_with_its_number_never_its_codes(
    open_unit: OpenUnit,
    make_order: MakeOrder,
    receiver: Receiver,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
) -> None:
    receiver.start()
    endpoint(open_unit, receiver.url)
    order = make_order("plus", quantity=2)
    with open_unit() as unit:
        row = unit.session.scalars(
            select(Order).where(Order.number == order.number).with_for_update()
        ).one()
        unit.orders.mark_refunded(row, reason="customer asked", actor="admin@example.com")

    build_worker(database, keyring, settings, clock.now).run_until_idle()

    got = events(receiver)
    assert [event["type"] for event in got] == [
        "order.paid",
        "code.blocked",
        "code.blocked",
        "order.refunded",
    ]
    assert got[0]["data"]["number"] == got[-1]["data"]["number"] == order.number
    assert got[-1]["data"]["reason"] == "customer asked"
    for item in receiver.received:
        for code in order.codes:
            assert code.replace("-", "").encode() not in item.body.replace(b"-", b"")


def test_the_worker_tells_a_renewal_and_a_subscription_that_ran_out(
    subscriber: Callable[[str], Subscriber],
    provider: RecordingProvider,
    open_unit: OpenUnit,
    receiver: Receiver,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
) -> None:
    receiver.start()
    endpoint(open_unit, receiver.url, "subscription.renewed", "subscription.expired")
    paying, declined = subscriber(PAYS), subscriber(RENEWALS_DECLINED)
    worker = build_worker(database, keyring, settings, clock.now, provider=provider)

    clock.advance(TERM + timedelta(minutes=1))
    worker.run_until_idle()
    clock.advance(GRACE + timedelta(minutes=1))
    worker.run_until_idle()

    told = {event["type"]: event["data"] for event in events(receiver)}
    assert set(told) == {"subscription.renewed", "subscription.expired"}
    assert told["subscription.renewed"]["subscription_id"] == paying.subscription_id
    assert told["subscription.renewed"]["order"]
    assert told["subscription.expired"]["subscription_id"] == declined.subscription_id
    assert told["subscription.expired"]["status"] == "expired"
