"""Engine and sessions. One request or one job is one transaction (docs/adr/0001).

Services only ``flush()``; the request dependency or the job's ``transaction()`` commits
on success and rolls back on any error, so a crash leaves nothing half done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, LargeBinary, Table, create_engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

from licensor.config import Settings
from licensor.files import private_sqlite_file, sqlite_path

if TYPE_CHECKING:
    from licensor.keys import Keyring

# The audit chain's key: derived from the keyring for this purpose only (audit.py).
AUDIT_CHAIN_PURPOSE = b"audit-chain"
KEY_SOURCE = "licensor.audit.key_source"

SQLITE_BUSY_TIMEOUT_SECONDS = 30


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


def make_engine(url: str, **kwargs: Any) -> Engine:
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
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


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
        self.engine = engine or make_engine(settings.resolved_database_url)
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
        """One unit of work: commit on success, roll back on any exception."""
        with self._turn(), self.sessions() as session, session.begin():
            yield session

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
