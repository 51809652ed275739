"""One request is one transaction, committed before the answer leaves (ADR 0001)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from licensor.api import create_app
from licensor.config import Settings
from licensor.db import Database
from licensor.deps import Db
from licensor.keys import Keyring
from licensor.models import Plan
from tests.support import serve


def _app_with_probe_routes(settings: Settings, database: Database, keyring: Keyring) -> Any:
    app = create_app(settings, database=database, keyring=keyring)

    @app.post("/api/v1/probe/plan-then-fail")
    def plan_then_fail(database: Db) -> dict[str, str]:
        with database.transaction() as session:
            session.add(_plan("half-done"))
            session.flush()
            raise RuntimeError("crash after the write")

    @app.post("/api/v1/probe/unflushable")
    def unflushable(database: Db) -> dict[str, str]:
        # Two plans with one code: the unique constraint fails at commit time.
        with database.transaction() as session:
            session.add(_plan("twin"))
            session.add(_plan("twin"))
        return {"status": "reported before commit"}

    return app


def _plan(code: str) -> Plan:
    from licensor.clock import clock

    return Plan(code=code, name=code, term_days=1, devices_max=1, created_at=clock.now())


def _plans(session: Session) -> list[str]:
    return list(session.scalars(select(Plan.code)))


@pytest.mark.parametrize("route", ["/api/v1/probe/plan-then-fail", "/api/v1/probe/unflushable"])
def test_a_failed_request_answers_500_and_keeps_nothing(
    settings: Settings, database: Database, keyring: Keyring, route: str
) -> None:
    with serve(_app_with_probe_routes(settings, database, keyring)) as url:
        response = httpx.post(url + route)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    with database.transaction() as session:
        assert _plans(session) == []
