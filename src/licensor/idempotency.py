"""``Idempotency-Key`` on every POST of the API, with Stripe's semantics.

An app whose connection drops after sending an activation cannot know whether it took a
seat; sending the same request again with the same key gives the answer the first one got,
and does nothing twice. Within 24 hours:

* the same key with the same body: the stored answer, with ``Idempotent-Replayed: true``;
* the same key with another body: 422 ``idempotency_key_reused``;
* the same key while the first request is still running: 409
  ``idempotency_request_in_progress`` (with Retry-After).

A key is scoped by the route and the caller's credentials (a partner's API key), so two
partners cannot meet on one key. Answers are kept encrypted (an activation's carries its
license key). Answers that changed nothing and should be tried again are not kept: a 5xx
(the transaction was rolled back), a 429 or a 503. A request whose process died leaves its
key running until ``LOCK_SECONDS`` pass; the next try then runs it.

One pure-ASGI layer inside the edge (licensor/edge.py, which bounds the body first), so it
covers the validation fast path too; a request without the header costs a header scan.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from licensor.db import Database
from licensor.errors import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    LicensorError,
    ServiceUnavailable,
)
from licensor.keys import Keyring
from licensor.logging import log
from licensor.models import IdempotencyKey

HEADER = b"idempotency-key"
KEEP = timedelta(hours=24)
LOCK_SECONDS = 60
MAX_KEY_LENGTH = 255
PURPOSE = b"idempotency"
_NOT_KEPT = frozenset({429, 503})
_REPLAYED_HEADERS = frozenset({b"content-type", b"retry-after", b"location", b"www-authenticate"})


@dataclass(frozen=True)
class _Stored:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class _Run:
    row_id: int


def _valid(key: bytes) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and all(0x21 <= byte <= 0x7E for byte in key)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            value_bytes: bytes = value
            return value_bytes
    return None


class Idempotency:
    """The layer; ``app`` is what answers when the request is new."""

    def __init__(
        self,
        app: ASGIApp,
        database: Database,
        keyring: Keyring,
        now: Callable[[], datetime],
        refuse: Callable[[Scope, LicensorError], Any],
    ) -> None:
        self.app = app
        self.database = database
        self.keyring = keyring
        self.now = now
        self.refuse = refuse
        self.hash_key = keyring.derive(b"idempotency-hash")

    def _hash(self, data: bytes) -> bytes:
        return hmac.new(self.hash_key, data, hashlib.sha256).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        key = _header(scope, HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not _valid(key):
            await self.refuse(scope, IdempotencyKeyInvalid())(scope, receive, send)
            return
        try:
            body = await _read(receive)
        except LicensorError as error:  # the edge refused the body as it was read
            await self.refuse(scope, error)(scope, receive, send)
            return
        # Keyed: the table holds no plain hash of a caller's credentials or of a body
        # that carries an activation code.
        caller = self._hash(_header(scope, b"authorization") or b"")
        scope_hash = self._hash(b"\n".join([scope["path"].encode(), key, caller]))
        request_hash = self._hash(body)
        try:
            outcome = await run_in_threadpool(self._begin, scope_hash, request_hash)
        except ServiceUnavailable as error:  # the database is away: answered as a route's
            outcome = error
        if isinstance(outcome, LicensorError):
            await self.refuse(scope, outcome)(scope, receive, send)
            return
        if isinstance(outcome, _Stored):
            await _replay(outcome, send)
            return
        await self._run(outcome, scope, body, send)

    async def _run(self, run: _Run, scope: Scope, body: bytes, send: Send) -> None:
        """Answer the request, keep the answer, and only then send it: a client that has
        the answer finds it kept when it retries."""
        messages: list[Message] = []
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            messages.append(message)

        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            await run_in_threadpool(self._forget, run.row_id)
            raise
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        status = start["status"] if start else 500
        try:
            if status >= 500 or status in _NOT_KEPT:
                await run_in_threadpool(self._forget, run.row_id)
            else:
                headers = start.get("headers", []) if start else []
                kept = [
                    (name, value) for name, value in headers if name.lower() in _REPLAYED_HEADERS
                ]
                chunks = [m.get("body", b"") for m in messages if m["type"] == "http.response.body"]
                stored = _Stored(status, kept, b"".join(chunks))
                await run_in_threadpool(self._keep, run.row_id, stored)
        except ServiceUnavailable:
            # The database went away after the answer was made (and committed): it is sent
            # all the same. A retry with the key is told the request is in progress until
            # LOCK_SECONDS pass, then runs it again.
            log.warning("idempotency.not_kept", key_id=run.row_id, status=status)
        for message in messages:
            await send(message)

    # --- the table ---------------------------------------------------------------------

    def _begin(self, scope_hash: bytes, request_hash: bytes) -> _Run | _Stored | LicensorError:
        now = self.now()
        with self.database.transaction() as session:
            row = session.scalar(
                select(IdempotencyKey)
                .where(IdempotencyKey.scope_hash == scope_hash)
                .with_for_update()
            )
            if row is not None and row.expires_at <= now:
                session.delete(row)
                session.flush()
                row = None
            if row is None:
                row = IdempotencyKey(
                    scope_hash=scope_hash,
                    request_hash=request_hash,
                    state="running",
                    created_at=now,
                    locked_until=now + timedelta(seconds=LOCK_SECONDS),
                    expires_at=now + KEEP,
                )
                try:
                    with session.begin_nested():
                        session.add(row)
                except IntegrityError:
                    # The same key, a moment ago, from a request running beside this one.
                    return IdempotencyRequestInProgress()
                return _Run(row.id)
            if row.request_hash != request_hash:
                return IdempotencyKeyReused()
            if row.status_code is not None and row.response_ciphertext is not None:
                return self._open(row.status_code, row.response_ciphertext)
            if row.locked_until > now:
                return IdempotencyRequestInProgress()
            # The request that held it died with its process: this one runs it.
            row.locked_until = now + timedelta(seconds=LOCK_SECONDS)
            log.warning("idempotency.taken_over", key_id=row.id)
            return _Run(row.id)

    def _keep(self, row_id: int, answer: _Stored) -> None:
        envelope = json.dumps(
            {
                "headers": [
                    [name.decode("latin-1"), value.decode("latin-1")]
                    for name, value in answer.headers
                ],
                "body": base64.b64encode(answer.body).decode(),
            }
        )
        with self.database.transaction() as session:
            row = session.get(IdempotencyKey, row_id)
            if row is None:
                return
            row.state = "done"
            row.status_code = answer.status
            row.response_ciphertext = self.keyring.encrypt(envelope, purpose=PURPOSE)

    def _forget(self, row_id: int) -> None:
        with self.database.transaction() as session:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id))

    def _open(self, status: int, ciphertext: bytes) -> _Stored:
        envelope = json.loads(self.keyring.decrypt(ciphertext, purpose=PURPOSE))
        return _Stored(
            status,
            [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in envelope["headers"]
            ],
            base64.b64decode(envelope["body"]),
        )


def purge(database: Database, now: datetime) -> int:
    """Forget the keys older than a day (``licensor worker`` calls this now and then)."""
    with database.transaction() as session:
        result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


async def _read(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _replay(stored: _Stored, send: Send) -> None:
    headers = [
        *stored.headers,
        (b"content-length", str(len(stored.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
