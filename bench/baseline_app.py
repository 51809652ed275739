"""The yardstick for online validation: the least a correct validation costs.

A bare ASGI app, no framework: parse the JSON body, check the key's format, compute its
keyed hash (the HMAC blind index, with the installation's own key), look the license up
by that index in the same database with one plain SQL query through the same driver
Licensor uses (sqlite3 or psycopg, one connection, no ORM, no pool), and answer with
JSON signed by Ed25519 exactly as Licensor signs its answers. One process under uvicorn,
like ``licensor serve --workers 1``:

    LICENSOR_VAR_DIR=... LICENSOR_DATABASE_URL=... \\
        .venv/bin/python -m uvicorn --app-dir bench --factory baseline_app:create_app

It does less than Licensor on purpose (no seat check, no license file in the answer, no
validation of the request beyond what the lookup needs): the spec's target is that
Licensor reaches at least 0.7 of this.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from licensor.clock import isoformat
from licensor.config import Settings
from licensor.keys import load_keyring
from licensor.licensing import formats
from licensor.licensing.signing import signed_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PATH = "/api/v1/licenses/validate"
KEY_PURPOSE = b"license_key"
QUERY = "SELECT public_id, expires_at, blocked_at FROM licenses WHERE key_index = {}"


class BaselineValidation:
    """The ASGI app: one database connection, used from the event loop's thread."""

    def __init__(self, settings: Settings) -> None:
        self.keyring = load_keyring(settings)
        url = settings.resolved_database_url
        self.connection: Any
        if url.startswith("sqlite"):
            self.connection = sqlite3.connect(url.split("///", 1)[1], check_same_thread=False)
            self.query = QUERY.format("?")
        else:
            import psycopg

            plain_url = url.replace("postgresql+psycopg://", "postgresql://", 1)
            self.connection = psycopg.connect(plain_url, autocommit=True)
            self.query = QUERY.format("%s")

    def answer(self, request: dict[str, Any]) -> bytes:
        canonical = formats.normalize_license_key(request["license_key"])
        index = self.keyring.blind_index(canonical, purpose=KEY_PURPOSE)
        row = self.connection.execute(self.query, (index,)).fetchone()
        now = datetime.now(UTC).replace(microsecond=0)
        answer: dict[str, Any]
        if row is None:
            answer = {"valid": False, "status": "unknown"}
        else:
            public_id, expires_at, blocked_at = row
            expires = _moment(expires_at)
            status = "blocked" if blocked_at else "expired" if expires <= now else "active"
            answer = {
                "valid": status == "active",
                "status": status,
                "public_id": public_id,
                "expires_at": isoformat(expires),
            }
        answer["nonce"] = request.get("nonce")
        answer["issued_at"] = isoformat(now)
        return signed_body(self.keyring, answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await _respond(send, 404, b'{"status":404}')
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            request = json.loads(body)
            payload = self.answer(request)
        except (ValueError, KeyError, TypeError, AttributeError):
            await _respond(send, 422, b'{"status":422}')
            return
        await _respond(send, 200, payload)


def _moment(value: datetime | str) -> datetime:
    # sqlite3 returns the text SQLAlchemy stored (naive UTC); psycopg an aware datetime.
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app() -> BaselineValidation:
    """The app for uvicorn's ``--factory``: settings from ``LICENSOR_*`` as Licensor's."""
    return BaselineValidation(Settings())
