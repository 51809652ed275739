"""How online validation reads its one row without holding up the event loop (ADR 0003).

One statement gives the license, its plan, this device's live seat, whether the device
ever had a seat, and the seats in use, straight through the driver, in autocommit: a plain
read, one round trip. Where it runs depends on what could make it wait:

* SQLite: on the event loop, through a connection of the validator's own. The database
  is a local file, and a reader in WAL mode takes no lock that a writer holds, so the read
  never waits for a write (the last-seen write goes elsewhere: ``last_seen.py``);
* PostgreSQL: on an asynchronous connection of the validator's own. The loop serves other
  requests during the round trip, so a database that stops answering holds up the
  validations waiting for it, not ``/healthz`` nor any other answer;
* ``LICENSOR_VALIDATION_READS=pool``: from the engine's pool, in the thread pool.

A dropped connection is replaced and the read tried once more. A database that is away
answers ``DatabaseUnavailable`` (503) within the connect timeout, at once while it is
deemed unreachable (licensor/db.py), and never holds up the loop: the asynchronous
connection's waits are bounded by psycopg itself (licensor/postgres.py).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from licensor.config import Settings
from licensor.db import Database, unreachable

QUERY = """
SELECT l.id, l.public_id, l.key_ciphertext, l.starts_at, l.expires_at, l.blocked_at,
       p.code, p.name, p.entitlements, COALESCE(l.devices_max, p.devices_max),
       a.id, a.last_validated_at,
       EXISTS (SELECT 1 FROM activations h WHERE h.license_id = l.id AND h.device_id = d.id),
       (SELECT count(*) FROM activations u WHERE u.license_id = l.id AND u.released_at IS NULL),
       p.lease_seconds,
       (SELECT e.expires_at FROM leases e
        WHERE e.license_id = l.id AND e.device_id = d.id AND e.released_at IS NULL),
       (SELECT max(r.reserve_starts_at) FROM activation_codes r WHERE r.reserved_for_id = l.id)
FROM licenses l
JOIN plans p ON p.id = l.plan_id
LEFT JOIN devices d ON d.fingerprint = {fingerprint}
LEFT JOIN activations a
       ON a.license_id = l.id AND a.device_id = d.id AND a.released_at IS NULL
WHERE l.key_index = {key_index}
"""

Row = tuple[Any, ...]


class ValidationReads(Protocol):
    async def row(self, key_index: bytes, fingerprint: str) -> Row | None:
        """The license's row for this device, or None if no license has this index."""

    async def close(self) -> None:
        """Close the connection of its own, if any."""


def validation_reads(database: Database, settings: Settings) -> ValidationReads:
    """The reads for this database and ``LICENSOR_VALIDATION_READS``."""
    if settings.validation_reads == "pool":
        return PooledReads(database)
    if database.is_sqlite:
        return SqliteReads(database)
    return PostgresReads(database, settings)


def _sql(database: Database) -> str:
    marker = "?" if database.is_sqlite else "%s"
    return QUERY.format(fingerprint=marker, key_index=marker)


class SqliteReads:
    """On the event loop's thread, through one connection kept out of the pool."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.sql = _sql(database)
        self.errors = database.engine.dialect.loaded_dbapi.Error
        self._connection: Any = None

    async def row(self, key_index: bytes, fingerprint: str) -> Row | None:
        try:
            return self._read(key_index, fingerprint)
        except self.errors:
            self._drop()  # a broken connection: one more try on a new one
            return self._read(key_index, fingerprint)

    def _read(self, key_index: bytes, fingerprint: str) -> Row | None:
        if self._connection is None:
            self._connection = self.database.own_connection()
        cursor = self._connection.cursor()
        try:
            cursor.execute(self.sql, (fingerprint, key_index))
            row = cursor.fetchone()
        finally:
            cursor.close()
        return tuple(row) if row is not None else None

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self.database.release_own(connection)

    async def close(self) -> None:
        self._drop()


class PostgresReads:
    """On an asynchronous connection of its own, in autocommit; queries on it take turns.

    Opened as the pool's are (licensor/postgres.py: timeouts, keepalives, PgBouncer), and
    each read is bounded by the connect timeout: one indexed statement that takes longer
    than a connection is a server that does not answer."""

    def __init__(self, database: Database, settings: Settings) -> None:
        import psycopg

        from licensor import postgres

        self.psycopg = psycopg
        self.connection_class = postgres.BoundedAsyncConnection
        self.database = database
        engine = database.engine
        self.connect_args, url_kwargs = engine.dialect.create_connect_args(engine.url)
        self.connect_kwargs = {**url_kwargs, **postgres.connect_args(settings)}
        self.answer_within = float(settings.database_connect_timeout)
        self.sql = _sql(database)
        self._connection: Any = None
        self._connecting: asyncio.Lock | None = None
        self._closing: weakref.finalize[Any, Any] | None = None

    async def row(self, key_index: bytes, fingerprint: str) -> Row | None:
        self.database.check_reachable()
        try:
            return await self._row(key_index, fingerprint)
        except self.psycopg.OperationalError as error:
            refusal = self.database.unavailable_error(error)
            if refusal is None:
                raise
            raise refusal from error

    async def _row(self, key_index: bytes, fingerprint: str) -> Row | None:
        connection = self._connection or await self._connect(None)
        try:
            return await self._read(connection, key_index, fingerprint)
        except self.psycopg.OperationalError as error:
            if unreachable(error):
                raise  # timed out: trying again would only double the wait
            # The connection broke (a database restart): one more try on a new one.
            connection = await self._connect(connection)
            return await self._read(connection, key_index, fingerprint)

    async def _read(self, connection: Any, key_index: bytes, fingerprint: str) -> Row | None:
        cursor = await connection.execute(self.sql, (fingerprint, key_index))
        row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def _connect(self, broken: Any) -> Any:
        """The connection to use: a new one if there is none or ``broken`` is still it."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # concurrent reads make one connection, not many
            if self._connection is None or self._connection is broken:
                self._close()
                # The attempt before this one may have just found the server unreachable.
                self.database.check_reachable()
                self._connection = await self.connection_class.connect(
                    *self.connect_args, autocommit=True, **self.connect_kwargs
                )
                self._connection.answer_within = self.answer_within
                # Closed with the reads even if nobody says so (an app served without
                # its lifespan, as in the tests).
                self._closing = weakref.finalize(self, _finish, self._connection)
            return self._connection

    async def close(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._closing is not None:
            self._closing()
        self._connection = self._closing = None


def _finish(connection: Any) -> None:
    # What AsyncConnection.close() does, without a loop: libpq's PQfinish.
    try:
        connection.pgconn.finish()
    except Exception:  # a broken connection: nothing more to release
        pass


class PooledReads:
    """From the engine's pool, in the thread pool: for a database far enough away that
    even waiting on a round trip of its own should not be the event loop's business."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.sql = _sql(database)

    async def row(self, key_index: bytes, fingerprint: str) -> Row | None:
        self.database.check_reachable()
        try:
            return await run_in_threadpool(self._read, key_index, fingerprint)
        except Exception as error:
            refusal = self.database.unavailable_error(error)
            if refusal is None:
                raise
            raise refusal from error

    def _read(self, key_index: bytes, fingerprint: str) -> Row | None:
        connection = self.database.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(self.sql, (fingerprint, key_index))
            row = cursor.fetchone()
            cursor.close()
            connection.rollback()  # end the read's transaction before the pool has it
            return tuple(row) if row is not None else None
        finally:
            connection.close()

    async def close(self) -> None:
        return None
