"""Test helpers: a real uvicorn server on loopback for any app, and table cleanup."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, text

from licensor.models import Base


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
            for name, _sql in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
            for _name, sql in triggers:
                connection.execute(text(sql))
        connection.execute(text(EMPTY_CHAIN), {"zero": bytes(32)})


EMPTY_CHAIN = "INSERT INTO audit_chain (id, seq, last_hash, mac) VALUES (1, 0, :zero, NULL)"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error family's shape: problem+json with the status and a stable ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"]
    return body
