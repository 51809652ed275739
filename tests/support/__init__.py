"""Test helpers: a real uvicorn server on loopback for any app, table cleanup, the error
family's shape and the audit trail as the database holds it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, select, text

from licensor.db import Database
from licensor.models import AuditEvent, Base


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def closed_server() -> str:
    """A URL where nothing listens: a device that uses it is offline."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def serve(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Run the app in a real HTTP server on 127.0.0.1 for the duration; yield its URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_until(
    condition: Callable[[], bool], what: str, *, timeout: float = 60, interval: float = 0.02
) -> None:
    """Return once ``condition()`` holds; TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(interval)


def empty_tables(engine: Engine) -> None:
    """Delete every row (children first); the schema and its revision stay, and the audit
    chain starts again from its empty head.

    The audit table refuses deletes (revision 0008): PostgreSQL's triggers are bypassed the
    way a superuser would (replica mode), SQLite's are dropped and made again."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            triggers = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            # Licenses and codes point at each other (a reserve code's license): no order
            # of deletes suits both, so the keys are checked at the end.
            connection.execute(text("PRAGMA defer_foreign_keys = ON"))
            for name, _sql in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
            for _name, sql in triggers:
                connection.execute(text(sql))
        connection.execute(text(EMPTY_CHAIN), {"zero": bytes(32)})


EMPTY_CHAIN = "INSERT INTO audit_chain (id, seq, last_hash, mac) VALUES (1, 0, :zero, NULL)"


def audit_events(database: Database, action: str | None = None) -> list[AuditEvent]:
    """The audit trail's rows, oldest first: every one, or those of one action."""
    with database.transaction() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(session.scalars(query))


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error family's shape: problem+json with the status and a stable ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"]
    return body
