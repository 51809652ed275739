"""Orders in the back office: ``licensor orders list|show|refund`` and the console's refund
over HTTP. A refund through the provider blocks the codes and mails the buyer once, however
often it is asked (two admins at once included); a provider that does not answer changes
nothing; a merchant-of-record order is refunded in its own store, never here; an agent
cannot refund."""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from licensor.config import Settings
from licensor.db import Database
from licensor.models import ActivationCode, CodeState, Order, OrderStatus, OutboxMessage
from licensor.store.checkout import CheckoutForm
from licensor.store.testmode import TestProvider
from tests.cli_support import cli_environment, licensor, one_line, run
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan
from tests.store.factories import ORDERS, MakeOrder, MakeSeller, Settle, paid_with, partner_sale
from tests.support import audit_events
from tests.support.factories import SignInStaff


def paid_store_order(
    open_unit: OpenUnit, provider: TestProvider, settle: Settle, *, quantity: int = 2
) -> str:
    """An order paid in our checkout with a test card; its number."""
    with open_unit() as unit:
        payment = unit.checkout.start(
            "plus",
            CheckoutForm(str(quantity), "Mario Rossi", "mario.refund@example.com"),
            account=None,
            language="en",
            actor="test",
        )
    settle(paid_with(provider, payment))
    with open_unit() as unit:
        order = unit.session.scalars(
            select(Order).where(Order.payment_reference == payment.reference)
        ).one()
        return order.number


def states(database: Database, number: str) -> tuple[str, list[str]]:
    with database.transaction() as session:
        order = session.scalars(select(Order).where(Order.number == number)).one()
        codes = session.scalars(
            select(ActivationCode.state).where(ActivationCode.order_id == order.id)
        ).all()
        return order.status, sorted(codes)


def refund_mails(database: Database) -> list[OutboxMessage]:
    with database.transaction() as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.template == "order_refunded"))
        )


@pytest.fixture
def plus(make_plan: MakePlan) -> str:
    return make_plan("plus", price_cents=3999)


def test_orders_list_filters_and_show_masks_the_codes(
    tmp_path: Path, settings: Settings, plus: str, make_order: MakeOrder
) -> None:
    mine = make_order(plus, email="list.me@example.com", quantity=2)
    make_order(plus, email="someone.else@example.com")

    status, out, err = licensor(
        tmp_path, settings, "orders", "list", "--email", "LIST.me@example.com", "--json"
    )
    assert status == 0, err
    assert [row["number"] for row in json.loads(out)] == [mine.number]
    assert json.loads(out)[0]["status"] == "paid"

    status, out, err = licensor(tmp_path, settings, "orders", "show", mine.number)
    assert status == 0, err
    assert "list.me@example.com" in out
    assert out.count("XXXXX-XXXXX-XXXXX-") == 2
    assert not any(code in out for code in mine.codes)


def test_a_refund_from_the_command_blocks_the_codes_and_mails_the_buyer_once(
    tmp_path: Path,
    settings: Settings,
    database: Database,
    open_unit: OpenUnit,
    provider: TestProvider,
    settle: Settle,
    plus: str,
) -> None:
    number = paid_store_order(open_unit, provider, settle)

    status, out, err = licensor(
        tmp_path, settings, "orders", "refund", number, "--reason", "customer asked"
    )
    assert status == 0, err
    assert "refunded" in out
    assert states(database, number) == ("refunded", ["blocked", "blocked"])

    again, out, err = licensor(tmp_path, settings, "orders", "refund", number, "--reason", "again")
    assert again == 0, err
    assert "already refunded" in out
    assert len(refund_mails(database)) == 1
    [event] = audit_events(database, "store.order_refunded")
    assert event.actor.startswith("cli:")


def test_a_provider_that_does_not_answer_changes_nothing(
    tmp_path: Path,
    settings: Settings,
    database: Database,
    open_unit: OpenUnit,
    provider: TestProvider,
    settle: Settle,
    plus: str,
) -> None:
    number = paid_store_order(open_unit, provider, settle, quantity=1)
    environment = cli_environment(settings.var_dir, settings.database_url)
    environment["LICENSOR_PAYMENT_PROVIDER"] = "tests.store.unreachable_provider:factory"
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), environment.get("PYTHONPATH", "")]
    )

    ran = run(
        "licensor",
        "orders",
        "refund",
        number,
        "--reason",
        "x",
        environment=environment,
        cwd=tmp_path,
    )

    assert ran.returncode == 1
    assert "did not answer or refused" in one_line(ran.stderr)
    assert states(database, number) == ("paid", ["issued"])
    assert refund_mails(database) == []


def test_two_admins_refunding_at_once_refund_once(
    database: Database,
    open_unit: OpenUnit,
    provider: TestProvider,
    settle: Settle,
    plus: str,
    sign_in_staff: SignInStaff,
) -> None:
    number = paid_store_order(open_unit, provider, settle)
    admins = [sign_in_staff("admin")[0] for _ in range(2)]
    path = f"/console/orders/{number}/refund"
    tokens = [admin.csrf_token(path) for admin in admins]

    def refund(index: int) -> httpx.Response:
        return admins[index].post(path, {"reason": "chargeback risk"}, token=tokens[index])

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(refund, range(2)))

    assert [answer.status_code for answer in answers] == [303, 303]
    assert sorted(answer.headers["location"].split("?done=")[1] for answer in answers) == [
        "already_refunded",
        "refunded",
    ]
    assert states(database, number) == ("refunded", ["blocked", "blocked"])
    assert len(refund_mails(database)) == 1
    assert len(audit_events(database, "store.order_refunded")) == 1


def test_an_agent_cannot_refund_and_a_merchant_of_record_order_is_refunded_in_its_store(
    database: Database,
    open_unit: OpenUnit,
    make_order: MakeOrder,
    plus: str,
    sign_in_staff: SignInStaff,
) -> None:
    paddle = make_order(plus)
    with open_unit() as unit:
        order = unit.session.scalars(select(Order).where(Order.number == paddle.number)).one()
        order.provider, order.provider_order_id = "paddle", "txn_01h"
    agent = sign_in_staff("agent")[0]
    page = agent.get(f"/console/orders/{paddle.number}")
    assert page.status_code == 200
    assert "Refund this order" not in page.text
    token = agent.csrf_token(f"/console/orders/{paddle.number}")
    refused = agent.post(f"/console/orders/{paddle.number}/refund", {"reason": "x"}, token=token)
    assert refused.status_code == 403

    admin = sign_in_staff("admin")[0]
    page = admin.get(f"/console/orders/{paddle.number}")
    assert "Paddle" in page.text
    assert "Refund this order" not in page.text
    path = f"/console/orders/{paddle.number}/refund"
    answer = admin.post(path, {"reason": "asked"}, token=admin.csrf_token(path))
    assert answer.status_code == 409
    assert states(database, paddle.number) == (OrderStatus.PAID, [CodeState.ISSUED])


def test_a_partners_sale_is_refunded_by_record_with_no_mail_from_us(
    database: Database,
    api: httpx.Client,
    make_seller: MakeSeller,
    sign_in_staff: SignInStaff,
) -> None:
    seller = make_seller(count=1)
    sale = api.post(ORDERS, json=partner_sale(seller.codes, "WEB-1"), headers=seller.auth)
    assert sale.status_code == 201, sale.text
    admin = sign_in_staff("admin")[0]
    # A link by the number alone (a customer's page) finds the partner's sale.
    found = admin.get("/console/orders/WEB-1")
    assert found.status_code == 307
    assert found.headers["location"] == f"/console/orders/partner/{seller.slug}/WEB-1"
    path = f"/console/orders/partner/{seller.slug}/WEB-1/refund"
    form = admin.get(path)
    assert "Record the refund" in form.text

    answer = admin.post(path, {"reason": "returned to the shop"}, token=admin.csrf_token(path))

    assert answer.status_code == 303
    assert (
        answer.headers["location"] == f"/console/orders/partner/{seller.slug}/WEB-1?done=refunded"
    )
    assert states(database, "WEB-1") == ("refunded", ["blocked"])
    assert refund_mails(database) == []


def test_an_agent_resends_a_store_orders_confirmation_to_its_own_address(
    database: Database,
    make_order: MakeOrder,
    plus: str,
    sign_in_staff: SignInStaff,
) -> None:
    placed = make_order(plus, email="resend.me@example.com")
    agent = sign_in_staff("agent")[0]
    page = f"/console/orders/{placed.number}"

    answer = agent.post(page + "/resend", {}, token=agent.csrf_token(page))

    assert answer.status_code == 303
    with database.transaction() as session:
        mails = session.scalars(
            select(OutboxMessage.recipient).where(OutboxMessage.template == "order_confirmation")
        ).all()
    assert mails == ["resend.me@example.com", "resend.me@example.com"]
    [event] = audit_events(database, "store.confirmation_resent")
    assert event.actor.startswith("account:")


def test_the_orders_list_pages_newest_first(
    open_unit: OpenUnit,
    plus: str,
    sign_in_staff: SignInStaff,
) -> None:
    with open_unit() as unit:
        numbers = [
            unit.orders.create(plan_code=plus, email=f"page{n}@example.com", name="Page").number
            for n in range(51)
        ]
    agent = sign_in_staff("agent")[0]

    first = agent.get("/console/orders?before=x")  # a keyset typed by hand: the first page
    assert first.status_code == 200
    shown = re.findall(r'<a href="/console/orders/([^"]+)">', first.text)
    assert shown == numbers[::-1][:50]
    older = re.search(r'<a href="(/console/orders\?before=\d+)" rel="next">', first.text)
    assert older is not None
    second = agent.get(older.group(1))
    assert re.findall(r'<a href="/console/orders/([^"]+)">', second.text) == [numbers[0]]
    assert 'rel="next"' not in second.text
