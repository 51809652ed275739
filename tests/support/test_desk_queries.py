"""The desk reads what its lists show in a few queries, however long the list: an order's
codes, an account's codes, a license's seats. A query per row would make a large order or
a busy license slow to open, and hide in a page that looks fine with one row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from licensor.db import Database
from licensor.units import UnitOfWork
from tests.conftest import OpenUnit
from tests.licensing.factories import activate, device
from tests.store.factories import MakeOrder

Read = Callable[[UnitOfWork], Any]
CountQueries = Callable[[Read], tuple[int, Any]]


@contextmanager
def counting(database: Database) -> Iterator[list[str]]:
    """Every statement the engine runs inside the block."""
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)


@pytest.fixture
def queries(database: Database, open_unit: OpenUnit) -> CountQueries:
    """How many statements a read runs in a unit of its own, and what it returned."""

    def count(read: Read) -> tuple[int, Any]:
        with open_unit() as unit, counting(database) as statements:
            found = read(unit)
        return len(statements), found

    return count


def test_an_orders_codes_are_read_in_the_same_queries_however_many(
    queries: CountQueries,
    make_order: MakeOrder,
    api: httpx.Client,
) -> None:
    few = make_order(quantity=2)
    many = make_order(quantity=12)
    for order in (few, many):
        activate(api, order.codes[0], device())

    few_queries, few_found = queries(lambda unit: unit.desk_lookup.lookup(few.number))
    many_queries, many_found = queries(lambda unit: unit.desk_lookup.lookup(many.number))

    assert [len(row.codes) for row in few_found.orders] == [2]
    assert [len(row.codes) for row in many_found.orders] == [12]
    assert sum(code.license_public_id is not None for code in many_found.orders[0].codes) == 1
    assert many_queries == few_queries


def test_an_accounts_codes_are_read_in_the_same_queries_however_many(
    queries: CountQueries,
    make_order: MakeOrder,
) -> None:
    few = make_order(quantity=1, email="few-codes@example.com")
    many = make_order(quantity=9, email="many-codes@example.com")
    make_order(quantity=3, email="many-codes@example.com")

    few_queries, few_found = queries(lambda unit: unit.desk_lookup.lookup(few.email))
    many_queries, many_found = queries(lambda unit: unit.desk_lookup.lookup(many.email))

    assert [len(row.codes) for row in few_found.orders] == [1]
    assert sorted(len(row.codes) for row in many_found.orders) == [3, 9]
    assert many_queries == few_queries


def test_a_licenses_seats_are_read_with_their_devices_in_the_same_queries_however_many(
    queries: CountQueries,
    make_order: MakeOrder,
    api: httpx.Client,
) -> None:
    order = make_order(quantity=2, plan="premium")
    one = activate(api, order.codes[0], device())["public_id"]
    several = ""
    for number in range(3):
        several = activate(api, order.codes[1], device(f"Laptop {number}"))["public_id"]

    one_queries, one_detail = queries(lambda unit: unit.desk_lookup.license_detail(one))
    several_queries, several_detail = queries(lambda unit: unit.desk_lookup.license_detail(several))

    assert [seat.device_name for seat in one_detail.seats] == ["Laptop"]
    assert [seat.device_name for seat in several_detail.seats] == [
        "Laptop 0",
        "Laptop 1",
        "Laptop 2",
    ]
    assert several_queries == one_queries
