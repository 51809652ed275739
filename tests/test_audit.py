"""The audit trail is append-only and hash-chained: ``licensor audit verify`` finds an
edited row, a deleted row, the newest rows removed, and a row slipped in beside the chain.

The tampering is done as an attacker with the database (but not the keys) would: straight
on the tables, past the append-only triggers, as a superuser can.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import AuditEvent
from tests.cli_support import Command, cli_environment, run
from tests.licensing.factories import MakeCode
from tests.store.factories import Allocate, MakePartner, PartnerKey


@pytest.fixture
def licensor(settings: Settings, database: Database, keyring: Keyring, tmp_path: Path) -> Command:
    """``licensor`` on the test database with the server's keys, and a var dir of this
    test's own: ``audit verify`` keeps its witness there."""
    environment = cli_environment(tmp_path / "var", settings.resolved_database_url)
    environment["LICENSOR_KEYS_DIR"] = str(settings.resolved_keys_dir)

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return run("licensor", *args, environment=environment, cwd=tmp_path)

    return command


def _block(licensor: Command, code: str, reason: str) -> None:
    blocked = licensor("codes", "block", code, "--reason", reason)
    assert blocked.returncode == 0, blocked.stderr


def _verify(licensor: Command) -> tuple[int, dict[str, Any]]:
    checked = licensor("audit", "verify", "--json")
    return checked.returncode, json.loads(checked.stdout)


@pytest.fixture
def three_events(licensor: Command, make_code: MakeCode) -> None:
    """A plan made (row 1, ``plans.created``), then three codes of it blocked by the
    vendor's CLI: rows 2 to 4 of the chain."""
    codes = [make_code() for _ in range(3)]
    for code, reason in zip(codes, ("refund", "fraud", "leaked"), strict=True):
        _block(licensor, code, reason)


def _rows(database: Database) -> list[AuditEvent]:
    with database.transaction() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.chain_seq)))


Tamper = Callable[..., None]


@pytest.fixture
def tamper(database: Database) -> Tamper:
    """Run SQL past the append-only triggers, as a superuser with the database would."""

    def run_sql(statement: str, **values: object) -> None:
        with database.engine.begin() as connection:
            if database.engine.dialect.name == "postgresql":
                connection.execute(text("SET LOCAL session_replication_role = replica"))
                connection.execute(text(statement), values)
                return
            triggers = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            for name, _sql in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            connection.execute(text(statement), values)
            for _name, sql in triggers:
                connection.execute(text(sql))

    return run_sql


def test_every_event_is_chained_and_the_chain_verifies(
    licensor: Command, database: Database, three_events: None
) -> None:
    rows = _rows(database)
    assert [row.chain_seq for row in rows] == [1, 2, 3, 4]
    assert [row.action for row in rows][:2] == ["plans.created", "licensing.code_blocked"]
    assert [row.reason for row in rows] == [None, "refund", "fraud", "leaked"]
    assert len({row.chain_hash for row in rows}) == 4
    status, found = _verify(licensor)
    assert status == 0
    assert found == {"intact": True, "chained": 4, "head": 4, "legacy": 0, "problems": []}
    said = licensor("audit", "verify")
    assert said.returncode == 0
    assert "intact" in said.stdout
    assert "4 rows chained" in said.stdout


def test_the_database_refuses_to_change_or_delete_an_audit_row(
    database: Database, three_events: None
) -> None:
    for statement in (
        "UPDATE audit_events SET reason = 'nothing happened'",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            with database.engine.begin() as connection:
                connection.execute(text(statement))
    assert [row.reason for row in _rows(database)] == [None, "refund", "fraud", "leaked"]


def test_an_edited_row_is_found(
    licensor: Command, database: Database, three_events: None, tamper: Tamper
) -> None:
    tamper("UPDATE audit_events SET actor = 'cli:nobody' WHERE chain_seq = 2")
    status, found = _verify(licensor)
    assert status == 1
    assert found["problems"] == [
        f"row 2 (id {_rows(database)[1].id}, licensing.code_blocked) does not match its hash: "
        "edited"
    ]
    said = licensor("audit", "verify")
    assert said.returncode == 1
    assert "tampered" in said.stderr
    assert "row 2" in said.stderr


def test_a_deleted_row_is_found(licensor: Command, three_events: None, tamper: Tamper) -> None:
    tamper("DELETE FROM audit_events WHERE chain_seq = 2")
    status, found = _verify(licensor)
    assert status == 1
    assert found["problems"] == ["row 2 was deleted, before row 3"]


def test_deleting_the_newest_rows_and_rolling_the_head_back_is_found(
    licensor: Command, database: Database, three_events: None, tamper: Tamper
) -> None:
    third = _rows(database)[2]
    tamper("DELETE FROM audit_events WHERE chain_seq = 4")
    # The head is plain data too: point it at row 3, as it was before row 4 was written.
    tamper("UPDATE audit_chain SET seq = 3, last_hash = :hash WHERE id = 1", hash=third.chain_hash)
    status, found = _verify(licensor)
    assert status == 1
    assert found["problems"] == ["the chain's head does not match its MAC: edited"]


def test_deleting_the_newest_row_alone_is_found(
    licensor: Command, three_events: None, tamper: Tamper
) -> None:
    tamper("DELETE FROM audit_events WHERE chain_seq = 4")
    status, found = _verify(licensor)
    assert status == 1
    assert found["problems"] == ["row 4 was deleted, the newest of the chain"]


def test_a_row_written_beside_the_chain_is_found(
    licensor: Command, three_events: None, tamper: Tamper
) -> None:
    tamper(
        "INSERT INTO audit_events (occurred_at, actor, action, subject_type, details)"
        " VALUES (CURRENT_TIMESTAMP, 'cli:root', 'licensing.code_blocked', 'code', '{}')"
    )
    status, found = _verify(licensor)
    assert status == 1
    assert found["problems"] == ["1 row was inserted outside the chain"]


def test_nothing_is_recorded_when_the_action_fails(
    licensor: Command, database: Database, make_code: MakeCode
) -> None:
    code = make_code()  # its plan's creation is row 1
    refused = licensor("codes", "block", code, "--reason", "   ")
    assert refused.returncode == 1
    assert [row.action for row in _rows(database)] == ["plans.created"]
    assert _verify(licensor) == (
        0,
        {"intact": True, "chained": 1, "head": 1, "legacy": 0, "problems": []},
    )


def _head(database: Database) -> dict[str, object]:
    with database.engine.connect() as connection:
        row = connection.execute(text("SELECT seq, last_hash, mac FROM audit_chain")).one()
    return {"seq": row.seq, "last_hash": bytes(row.last_hash), "mac": bytes(row.mac)}


def test_a_head_rolled_back_to_an_older_state_is_found_by_the_witness(
    licensor: Command, database: Database, make_code: MakeCode, tamper: Tamper, tmp_path: Path
) -> None:
    """The head's MAC cannot tell an old head from the newest: a backup's head, put back
    after the newest rows were deleted, is genuine. The witness that ``audit verify``
    keeps outside the database remembers how far the chain had come."""
    codes = [make_code() for _ in range(3)]  # their plan's creation is row 1
    _block(licensor, codes[0], "refund")
    _block(licensor, codes[1], "fraud")
    backup = _head(database)  # the head as a backup taken now holds it
    _block(licensor, codes[2], "leaked")
    assert _verify(licensor)[0] == 0
    witness = json.loads((tmp_path / "var" / "audit-witness.json").read_text())
    assert witness["seq"] == 4

    tamper("DELETE FROM audit_events WHERE chain_seq = 4")
    tamper("UPDATE audit_chain SET seq = :seq, last_hash = :last_hash, mac = :mac", **backup)

    status, found = _verify(licensor)
    assert status == 1
    assert found["problems"] == [
        "row 4, the newest at the last verification, is gone: the chain was cut back"
    ]
    # Without the witness the cut could not be seen: keep it away from the database.
    elsewhere = licensor("audit", "verify", "--json", "--witness", str(tmp_path / "new.json"))
    assert elsewhere.returncode == 0


def test_every_row_deleted_and_the_head_reset_is_found_by_the_witness(
    licensor: Command, three_events: None, tamper: Tamper
) -> None:
    assert _verify(licensor)[0] == 0
    tamper("DELETE FROM audit_events")
    tamper("UPDATE audit_chain SET seq = 0, last_hash = :zero, mac = NULL", zero=bytes(32))

    status, found = _verify(licensor)
    assert status == 1
    assert found["chained"] == 0
    assert "the chain was cut back" in found["problems"][0]


@pytest.mark.postgres_only
def test_concurrent_requests_each_take_their_own_place_in_the_chain(
    server: str,
    licensor: Command,
    database: Database,
    make_partner: MakePartner,
    partner_key: PartnerKey,
    allocate: Allocate,
) -> None:
    """Each sale a partner records is audited; 40 recorded at once make one unbroken chain."""
    slug = make_partner().slug
    headers = {"Authorization": f"Bearer {partner_key(slug)}"}
    codes = allocate(slug, count=40)

    def record(index: int) -> int:
        sale = {
            "number": f"WEB-{index:04d}",
            "purchased_at": "2026-11-30T10:00:00Z",
            "customer": {"name": "Maria Rossi", "email": f"maria{index}@example.com"},
            "codes": [codes[index]],
        }
        with httpx.Client(base_url=server, timeout=30) as client:
            return client.post("/api/v1/partner/orders", json=sale, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(record, range(40)))
    assert statuses == [201] * 40
    rows = _rows(database)
    assert [row.chain_seq for row in rows] == list(range(1, len(rows) + 1))
    assert sum(row.action == "store.partner_sale_recorded" for row in rows) == 40
    status, found = _verify(licensor)
    assert (status, found["problems"]) == (0, [])
