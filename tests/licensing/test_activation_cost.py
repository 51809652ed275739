"""What an activation costs the database, and the shortcuts that keep it low doing what
the long way did.

A first activation is the busiest write of the API (bench/README.md, Scale): its round
trips are counted on the server's own engine (the test server runs in this process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from licensor.db import Database
from licensor.licensing import formats
from licensor.models import Activation, Device, License
from tests.licensing.factories import activate, device

MakeCode = Callable[..., str]

# Lock and read the code, insert the license, mark the code active, register the
# device, take the seat: five; and read which webhook endpoints take license.activated
# (a handful of rows at most; none here), whose deliveries are written in the same
# transaction (docs/webhooks.md): six. Before the shortcuts, fourteen.
FIRST_ACTIVATION_STATEMENTS = 6


@contextmanager
def statements_counted(database: Database) -> Iterator[list[str]]:
    """The SQL the server's engine sends while the block runs, but for the transaction's
    BEGIN (sent as a statement on SQLite only, and every request has one)."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            sent.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def test_a_first_activation_takes_six_statements(
    api: httpx.Client, database: Database, make_code: MakeCode
) -> None:
    code = make_code("plus", devices_max=3)

    with statements_counted(database) as sent:
        body = activate(api, code, device("New laptop"))

    assert body["devices_used"] == 1
    assert len(sent) <= FIRST_ACTIVATION_STATEMENTS, "\n".join(sent)


def test_a_device_known_from_another_license_is_brought_up_to_date(
    api: httpx.Client, database: Database, make_code: MakeCode
) -> None:
    machine = device("Old name")
    activate(api, make_code("plus"), machine)

    renamed = {**machine, "name": "New name", "platform": "windows"}
    body = activate(api, make_code("plus"), renamed)

    assert body["devices_used"] == 1
    with database.transaction() as session:
        devices = session.scalars(
            select(Device).where(Device.fingerprint == machine["fingerprint"])
        ).all()
        assert [(d.name, d.platform) for d in devices] == [("New name", "windows")]
        seats = session.scalar(
            select(func.count(Activation.id)).where(Activation.device_id == devices[0].id)
        )
        assert seats == 2


def test_a_public_id_already_taken_is_drawn_again(
    api: httpx.Client, database: Database, make_code: MakeCode, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = activate(api, make_code("plus"), device())["public_id"]
    draws = iter([taken, taken, "LIC-0000-0001"])
    monkeypatch.setattr(formats, "generate_public_id", lambda: next(draws))

    body = activate(api, make_code("plus"), device())

    assert body["public_id"] == "LIC-0000-0001"
    with database.transaction() as session:
        assert session.scalar(select(func.count(License.id))) == 2
