"""The dashboard's figures (``licensor report figures``, the same figures as /console): what
devices, buyers and the desk did shows up on its day, on both databases."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.console.figures import figures
from licensor.daily import DayRange
from licensor.models import Order, OrderStatus
from licensor.store.checkout import CheckoutForm
from licensor.store.payments import PaymentRequest
from licensor.store.testmode import TestProvider
from tests.accounts.factories import MakeAccount, fresh_email, link
from tests.cli_support import licensor, one_line
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, MakePlan, activate, device, validate
from tests.store.factories import Settle, paid_with
from tests.support import wait_until
from tests.support.factories import MakeRequest


def buy(open_unit: OpenUnit, provider: TestProvider, settle: Settle) -> PaymentRequest:
    """A code bought in the store and paid with the test provider's card."""
    with open_unit() as unit:
        payment = unit.checkout.start(
            "shop",
            CheckoutForm("1", "Mario Rossi", fresh_email("buyer")),
            account=None,
            language="en",
            actor="test",
        )
    assert settle(paid_with(provider, payment)) == OrderStatus.PAID
    return payment


def refund(open_unit: OpenUnit, payment: PaymentRequest) -> None:
    """Refund the order paid by ``payment`` as the console does (the order locked)."""
    with open_unit() as unit:
        order = unit.session.scalars(
            select(Order).where(Order.payment_reference == payment.reference).with_for_update()
        ).one()
        unit.orders.mark_refunded(order, reason="asked", actor="test")


def test_a_day_of_activity_is_counted_on_its_day(
    api: httpx.Client,
    make_code: MakeCode,
    make_plan: MakePlan,
    provider: TestProvider,
    settle: Settle,
    make_account: MakeAccount,
    make_request: MakeRequest,
    open_unit: OpenUnit,
    clock: Clock,
    settings: Settings,
    tmp_path: Path,
) -> None:
    # Days of our own: the server's validation writer may still add an earlier test's
    # validations (counted on their day, written up to a second later) after its rows
    # were emptied, and they must not land on the days this test counts.
    clock.advance(timedelta(days=47))
    laptop, desktop = device("Laptop"), device("Desktop")
    first = activate(api, make_code(), laptop)
    activate(api, make_code(), desktop)
    validate(api, first["license_key"], laptop["fingerprint"])
    validate(api, first["license_key"], desktop["fingerprint"])  # not this device's: counted
    validate(api, "0" * 32, laptop["fingerprint"])  # unknown: counted too
    assert link(api, make_account(), first["license_key"], laptop["fingerprint"]).status_code < 300
    released = api.post(
        "/api/v1/activations/release",
        json={"license_key": first["license_key"], "fingerprint": laptop["fingerprint"]},
    )
    assert released.status_code == 200, released.text
    make_plan("shop", price_cents=3999)
    payment = buy(open_unit, provider, settle)
    make_request()
    today = clock.now().date()
    days = DayRange(today - timedelta(days=1), today + timedelta(days=1))

    def counted() -> bool:
        with open_unit() as unit:
            return figures(unit, days).validations[1] == 3

    wait_until(counted, "the validation writer's batch", timeout=10, interval=0.1)
    clock.advance(timedelta(days=1))
    refund(open_unit, payment)
    total = payment.amount_cents

    with open_unit() as unit:
        shown = figures(unit, days)
    assert shown.activations == [0, 2, 0]
    assert shown.new_licenses == [0, 2, 0]
    assert shown.validations == [0, 3, 0]
    assert shown.devices == [0, 1, 1]  # one released the day it came
    assert total > 0
    assert shown.revenue == {"EUR": [0, total, -total]}
    assert shown.recoveries["account_link"] == 1
    assert shown.new_requests == [0, 1, 0]
    assert shown.queue.size == 1
    assert shown.queue.oldest_age is not None
    assert timedelta(days=1) <= shown.queue.oldest_age < timedelta(days=1, minutes=1)

    status, out, err = licensor(
        tmp_path, settings, "report", "figures", "--from", days.first.isoformat(),
        "--to", days.last.isoformat(), "--json",
    )  # fmt: skip
    assert status == 0, err
    report = json.loads(out)
    assert report["activations"] == [0, 2, 0]
    assert report["validations"] == [0, 3, 0]
    assert report["revenue_cents"] == {"EUR": [0, total, -total]}
    assert report["recoveries"] == {
        "account_link": 1,
        "order_lookup": 0,
        "partner_pointer": 0,
        "support_desk": 0,
        "self_service_replace": 0,
    }
    assert report["support_queue"]["open"] == 1


def test_a_range_inverted_or_over_a_year_is_refused(settings: Settings, tmp_path: Path) -> None:
    inverted = licensor(
        tmp_path, settings, "report", "figures", "--from", "2026-03-10", "--to", "2026-03-01"
    )
    too_long = licensor(
        tmp_path, settings, "report", "figures", "--from", "2025-01-01", "--to", "2026-01-02"
    )
    not_a_day = licensor(tmp_path, settings, "report", "figures", "--from", "yesterday")

    assert inverted[0] == 1
    assert "--to: Choose an end date on or after the start date." in one_line(inverted[2])
    assert too_long[0] == 1
    assert "--to: Choose a range of at most 366 days." in one_line(too_long[2])
    assert not_a_day[0] == 1
    assert "--from:" in not_a_day[2]
