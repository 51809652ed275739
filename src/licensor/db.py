"""Engine and sessions. One request or one job is one transaction (docs/adr/0001).

Services only ``flush()``; the request dependency or the job's ``transaction()`` commits
on success and rolls back on any error, so a crash leaves nothing half done.

A database that is away (stopped, hung, unreachable, or too busy to answer in time) makes
a transaction raise ``DatabaseUnavailable``, a 503 with Retry-After, never a hang or a
500; after a failure to reach it, the process answers so at once for
``UNREACHABLE_SECONDS`` instead of making every request wait out its own timeout, then
tries again by itself (docs/database.md).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, LargeBinary, Table, create_engine, event, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from licensor.config import Settings
from licensor.errors import DatabaseUnavailable
from licensor.files import private_sqlite_file, sqlite_path

if TYPE_CHECKING:
    from licensor.keys import Keyring

# The audit chain's key: derived from the keyring for this purpose only (audit.py).
AUDIT_CHAIN_PURPOSE = b"audit-chain"
KEY_SOURCE = "licensor.audit.key_source"

SQLITE_BUSY_TIMEOUT_SECONDS = 30
# After the database could not be reached, requests are answered 503 at once for this long
# (and told to come back after it), then the next one tries again.
UNREACHABLE_SECONDS = 2.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level, so that SQLAlchemy's BEGIN below is the only one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # SQLite has no row locks; taking the write lock at BEGIN makes each transaction
    # serial, which is what SELECT ... FOR UPDATE gives PostgreSQL per row.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """The engine for ``url``. On PostgreSQL, ``settings`` give the pool's size and every
    timeout (licensor/postgres.py); without them (migrations, schema checks) connecting is
    still bounded, statements are not."""
    # Errors and logs never carry bound values: they are codes' blind indexes, emails,
    # ciphertexts, whatever a client typed.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            private_sqlite_file(path)  # 0600, and so its -wal and -shm (files.py)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if not url.startswith("postgresql"):
        return create_engine(url, **kwargs)
    from licensor import postgres

    if settings is not None:
        kwargs.setdefault("pool_size", settings.database_pool_size)
        kwargs.setdefault("max_overflow", settings.database_max_overflow)
        kwargs.setdefault("pool_timeout", settings.database_pool_timeout)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs["connect_args"] = {**postgres.connect_args(settings), **kwargs.get("connect_args", {})}
    engine = create_engine(url, **kwargs)
    if engine.dialect.driver == "psycopg":
        postgres.bound_engine(engine, settings)
    return engine


def unavailable(error: BaseException) -> bool:
    """Whether an error means the database cannot serve this request now, so that trying
    again later helps: unreachable, hung, connection lost, no pooled connection free in
    time, a statement past its timeout, a deadlock; on SQLite, the write lock held past its
    busy timeout. Not a bad statement nor a broken constraint: those are ours to fix."""
    if isinstance(error, PoolTimeout):
        return True
    cause = error.orig if isinstance(error, DBAPIError) else error
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(cause, psycopg.OperationalError):
        return True
    sqlite3 = sys.modules.get("sqlite3")
    return (
        sqlite3 is not None
        and isinstance(cause, sqlite3.OperationalError)
        and ("locked" in str(cause) or "busy" in str(cause))
    )


def unreachable(error: BaseException) -> bool:
    """Whether an error says the server itself cannot be reached (refused, timed out,
    hung), rather than one request's trouble: worth not trying again for a moment."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if "psycopg" not in sys.modules or cause is None:
        return False
    from licensor.postgres import could_not_reach

    return could_not_reach(cause)


def bulk_insert(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows of a mapped class's table (all rows with the same keys) in the
    session's transaction, fast.

    Straight through the driver: ``executemany`` on SQLite, ``COPY`` on PostgreSQL. Values
    pass the columns' bind processors as SQLAlchemy would (once for a value every row
    shares, such as a batch's timestamp). Python-side column defaults are not applied:
    rows must give every value they need.
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    connection = session.connection()
    dialect = connection.dialect
    if (dialect.name, dialect.driver) not in (("sqlite", "pysqlite"), ("postgresql", "psycopg")):
        session.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    tuples = [tuple(row[name] for name in names) for row in rows]
    processors = [
        (index, processor)
        for index, name in enumerate(names)
        # Bytes go to either driver as they are; SQLAlchemy's wrapper for them adds nothing.
        if not isinstance(table.c[name].type, LargeBinary)
        and (processor := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    if processors:
        tuples = _processed(tuples, processors)
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in names)
    target = preparer.format_table(table)
    driver_connection: Any = connection.connection.driver_connection
    if dialect.name == "sqlite":
        placeholders = ", ".join("?" for _ in names)
        cursor = driver_connection.cursor()
        try:
            cursor.executemany(f"INSERT INTO {target} ({columns}) VALUES ({placeholders})", tuples)
        finally:
            cursor.close()
    else:
        with driver_connection.cursor() as cursor:
            # Binary COPY spares the server parsing text (hex bytea, timestamps).
            cursor.execute(
                "SELECT attname, atttypid FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attname = ANY(%s)",
                (target, names),
            )
            type_ids = dict(cursor.fetchall())
            with cursor.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([type_ids[name] for name in names])
                for values in tuples:
                    copy.write_row(values)


def _processed(
    tuples: list[tuple[Any, ...]], processors: Sequence[tuple[int, Callable[[Any], Any]]]
) -> list[tuple[Any, ...]]:
    columns = list(zip(*tuples, strict=True))
    for index, processor in processors:
        column = columns[index]
        first = column[0]
        if all(value is first for value in column):
            columns[index] = (processor(first),) * len(column)
        else:
            columns[index] = tuple(processor(value) for value in column)
    return list(zip(*columns, strict=True))


class Database:
    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.resolved_database_url, settings)
        # Sessions name this object as where their audit chain key comes from (audit.py).
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={KEY_SOURCE: self})
        self._keyring: Keyring | None = None
        self._audit_key: bytes | None = None
        # SQLite runs one transaction at a time (BEGIN IMMEDIATE). Within a process, the
        # waiting threads queue on this lock and each wakes the moment its turn comes;
        # left to SQLite's busy handler, they would poll with sleeps of up to 100 ms,
        # which under load made validation latencies reach seconds (bench/validate.py).
        self._sqlite_turn = threading.Lock() if self.is_sqlite else None
        self._own: list[Any] = []
        self._own_lock = threading.Lock()
        self._unreachable_until = 0.0  # time.monotonic()

    def use_keyring(self, keyring: Keyring) -> None:
        """The keys this process works with (the app's, the command's)."""
        self._keyring = keyring
        self._audit_key = None

    @property
    def audit_key(self) -> bytes:
        """The key of the audit trail's hash chain (licensor/audit.py)."""
        if self._audit_key is None:
            if self._keyring is None:
                from licensor.keys import load_keyring

                self._keyring = load_keyring(self.settings)
            self._audit_key = self._keyring.derive(AUDIT_CHAIN_PURPOSE)
        return self._audit_key

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception.

        ``DatabaseUnavailable`` when the database is away (``unavailable``), at once if it
        could not be reached a moment ago."""
        self.check_reachable()
        try:
            with self._turn(), self.sessions() as session, session.begin():
                yield session
        except (DBAPIError, PoolTimeout) as error:
            refusal = self.unavailable_error(error)
            if refusal is None:
                raise
            raise refusal from error

    def check_reachable(self) -> None:
        """``DatabaseUnavailable`` while the database is deemed unreachable."""
        left = self._unreachable_until - time.monotonic()
        if left > 0:
            raise DatabaseUnavailable(retry_after=math.ceil(left))

    def unavailable_error(self, error: BaseException) -> DatabaseUnavailable | None:
        """The 503 an error of the database's amounts to, if it is one (noting an
        unreachable server), else None: the error is a bug of ours."""
        if not unavailable(error):
            return None
        retry_after = math.ceil(UNREACHABLE_SECONDS)
        if unreachable(error):
            self._unreachable_until = time.monotonic() + UNREACHABLE_SECONDS
        return DatabaseUnavailable(retry_after=retry_after)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if self._sqlite_turn is None:
            yield
            return
        # Past the busy timeout, go on and let SQLite say the database is locked, as it
        # would have without the queue (a transaction nested in another, say).
        acquired = self._sqlite_turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        try:
            yield
        finally:
            if acquired:
                self._sqlite_turn.release()

    def own_connection(self) -> Any:
        """A driver connection outside the pool, for one thread's exclusive use; closed
        by ``dispose`` (the validation path reads through one: docs/adr/0003)."""
        pooled = self.engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()
        with self._own_lock:
            self._own.append(connection)
        return connection

    def release_own(self, connection: Any) -> None:
        with self._own_lock:
            if connection in self._own:
                self._own.remove(connection)
        try:
            connection.close()
        except Exception:  # a broken connection: nothing more to release
            pass

    def dispose(self) -> None:
        with self._own_lock:
            owned, self._own = self._own, []
        for connection in owned:
            try:
                connection.close()
            except Exception:  # a broken connection: nothing more to release
                pass
        self.engine.dispose()
