"""``licensor orders create`` and ``licensor partners create``, run as the vendor runs them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import OutboxMessage
from tests.cli_support import licensor, one_line
from tests.licensing.factories import MakePlan
from tests.store.factories import MakePartner


def test_a_store_order_prints_its_json_and_queues_the_confirmation_with_the_codes(
    tmp_path: Path, settings: Settings, database: Database, keyring: Keyring, make_plan: MakePlan
) -> None:
    make_plan("plus", price_cents=3999)

    status, out, err = licensor(
        tmp_path,
        settings,
        "orders",
        "create",
        "--plan",
        "plus",
        "--email",
        "Mario@Example.com",
        "--name",
        "Mario Rossi",
        "--quantity",
        "2",
        "--json",
    )

    assert status == 0, err
    order = json.loads(out)
    assert set(order) == {"number", "purchased_at", "codes"}
    assert datetime.fromisoformat(order["purchased_at"]).tzinfo is not None
    assert len(order["codes"]) == 2
    with database.transaction() as session:
        mail = session.scalars(select(OutboxMessage)).all()
    assert [message.recipient for message in mail] == ["mario@example.com"]
    assert order["number"] in mail[0].subject
    text, _ = bodies(keyring, mail[0])
    assert all(code in text for code in order["codes"])


def test_a_partner_order_gets_no_mail_from_us(
    tmp_path: Path,
    settings: Settings,
    database: Database,
    make_plan: MakePlan,
    make_partner: MakePartner,
) -> None:
    make_plan("plus")
    partner = make_partner()

    status, out, err = licensor(
        tmp_path,
        settings,
        "orders",
        "create",
        "--plan",
        "plus",
        "--email",
        "p@example.com",
        "--name",
        "P Q",
        "--partner",
        partner.slug,
        "--json",
    )

    assert status == 0, err
    assert len(json.loads(out)["codes"]) == 1
    with database.transaction() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


def test_partners_create_checks_every_field_and_names_them(
    tmp_path: Path, settings: Settings, database: Database
) -> None:
    status, _, err = licensor(
        tmp_path,
        settings,
        "partners",
        "create",
        "--slug",
        "X",
        "--name",
        " ",
        "--email",
        "not-an-email",
        "--url",
        "ftp://files",
    )

    assert status == 1
    said = one_line(err)
    for field in ("--slug", "--name", "--email", "--url"):
        assert field in said

    status, out, err = licensor(
        tmp_path,
        settings,
        "partners",
        "create",
        "--slug",
        "shop-milano",
        "--name",
        "Shop Milano",
        "--email",
        "help@shop.example",
        "--url",
        "https://shop.example",
    )
    assert status == 0, err
    assert "shop-milano" in out
