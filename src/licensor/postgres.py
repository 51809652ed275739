"""What talking to PostgreSQL takes beyond a URL: bounded waits, PgBouncer, and the count
of connections a configuration opens (docs/database.md).

A server that is stopped refuses connections at once; one that hangs (overloaded, swapped
out, ``kill -STOP``) accepts them in the kernel and never answers, and its kernel still
acknowledges every byte, so neither TCP keepalives nor a socket timeout notice anything.
Only the client can bound its own wait, so every wait of ours on the server is bounded:

* connecting: libpq's ``connect_timeout`` (psycopg enforces it on the whole handshake);
* a statement: ``statement_timeout`` on the server, which answers with an error in time;
  and, for a server that cannot answer at all, psycopg's own wait on the socket gives up a
  connect timeout after that (``BoundedConnection``): the connection is closed, and the
  error is one the pool knows as a lost connection;
* the pool's liveness check (``SELECT 1``) within the connect timeout alone.

TCP keepalives still matter for a peer that vanished (a host powered off, a partition):
an idle pooled connection to it is found dead instead of hanging the next request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.errors import _WaitTimeout
from sqlalchemy import Engine, event, text

from licensor.config import Settings

DEFAULT_CONNECT_TIMEOUT = 5  # seconds; what a command without settings waits (migrations)
# A peer gone silent is found on an idle connection after 30 s + 3 probes 10 s apart.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
KEEPALIVES_COUNT = 3
# The validation path's connection of its own, beside each web process's pool.
FAST_PATH_CONNECTIONS = 1


class NoAnswer(psycopg.OperationalError):
    """The server did not answer within the bound: the connection has been closed."""


def connect_args(settings: Settings | None) -> dict[str, Any]:
    """The driver's arguments for every connection: the pool's and the validation path's."""
    arguments: dict[str, Any] = {
        "connect_timeout": settings.database_connect_timeout
        if settings
        else DEFAULT_CONNECT_TIMEOUT,
        **KEEPALIVES,
        "keepalives_count": KEEPALIVES_COUNT,
    }
    if settings is None:
        return arguments  # migrations and schema checks: no statement timeout
    if settings.database_pgbouncer:
        # Transaction pooling hands each transaction to any server connection: a statement
        # prepared on one is unknown on the next. PgBouncer (before 1.20) refuses the
        # `options` startup parameter: the timeout is set on the role instead.
        arguments["prepare_threshold"] = None
    elif settings.database_statement_timeout_ms:
        arguments["options"] = f"-c statement_timeout={settings.database_statement_timeout_ms}"
    return arguments


def answer_bound(settings: Settings | None) -> float | None:
    """How long we wait on the server for one call, at most: its statement timeout, then a
    connect timeout for its error to arrive. None without a statement timeout."""
    if settings is None or not settings.database_statement_timeout_ms:
        return None
    return settings.database_statement_timeout_ms / 1000 + settings.database_connect_timeout


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait on the server ends within ``answer_within``
    seconds; past it the connection is closed and ``NoAnswer`` raised."""

    answer_within: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        bound = self.answer_within if timeout is None else timeout
        try:
            return super().wait(gen, interval=interval, timeout=bound)
        except _WaitTimeout:
            self.close()  # mid-protocol: unusable; closed, the pool discards it
            raise NoAnswer(f"no answer from the database within {bound:g} s") from None

    @contextmanager
    def answering_within(self, seconds: float) -> Iterator[None]:
        """A tighter bound for the calls in the block (the pool's liveness check)."""
        before, self.answer_within = self.answer_within, seconds
        try:
            yield
        finally:
            self.answer_within = before


class BoundedAsyncConnection(psycopg.AsyncConnection[Any]):
    """``BoundedConnection`` for the validation path's asynchronous connection. Its bound
    is enforced by psycopg's wait itself, not by cancelling the task: a cancelled wait
    tries to cancel the query on the server first, which a hung server never answers."""

    answer_within: float | None = None

    async def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        bound = self.answer_within if timeout is None else timeout
        try:
            return await super().wait(gen, interval=interval, timeout=bound)
        except _WaitTimeout:
            await self.close()
            raise NoAnswer(f"no answer from the database within {bound:g} s") from None


def bound_engine(engine: Engine, settings: Settings | None) -> None:
    """Open the engine's connections as ``BoundedConnection``s, and bound its liveness
    check by the connect timeout: a ``SELECT 1`` slower than a connection is a server
    that does not answer."""
    bound = answer_bound(settings)
    ping_bound = float(settings.database_connect_timeout if settings else DEFAULT_CONNECT_TIMEOUT)

    @event.listens_for(engine, "do_connect")
    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.answer_within = bound
        return connection

    ping: Callable[[Any], bool] = engine.dialect.do_ping

    def bounded_ping(connection: Any) -> bool:
        if not isinstance(connection, BoundedConnection):
            return ping(connection)
        with connection.answering_within(ping_bound):
            return ping(connection)

    engine.dialect.do_ping = bounded_ping  # type: ignore[method-assign,assignment]


def could_not_reach(error: BaseException) -> bool:
    """Whether a driver error says the server cannot be reached now (refused, timed out,
    hung), as opposed to one statement's or one connection's trouble."""
    if isinstance(error, NoAnswer | psycopg.errors.ConnectionTimeout):
        return True
    if not isinstance(error, psycopg.OperationalError) or error.sqlstate is not None:
        return False
    message = str(error)
    return message.startswith("connection failed") and "too many clients" not in message


# --- connections a configuration opens (issue 13, item 3) -------------------------------


@dataclass(frozen=True)
class ConnectionBudget:
    """This host's processes' connections against the share of the server's it may use."""

    processes: int
    pool_size: int
    max_overflow: int
    max_connections: int
    reserved: int
    share: float

    @property
    def per_process(self) -> int:
        return self.pool_size + self.max_overflow + FAST_PATH_CONNECTIONS

    @property
    def needed(self) -> int:
        return self.processes * self.per_process

    @property
    def allowed(self) -> int:
        return math.floor((self.max_connections - self.reserved) * self.share)

    @property
    def fits(self) -> bool:
        return self.needed <= self.allowed

    def refusal(self) -> str:
        """One line with the arithmetic, and what to change."""
        share = (
            f" x {self.share:g} (LICENSOR_DATABASE_MAX_CONNECTIONS_SHARE)" if self.share < 1 else ""
        )
        return (
            f"{self.processes} process(es) x ({self.pool_size} pool + {self.max_overflow} "
            f"overflow + {FAST_PATH_CONNECTIONS} validation) = {self.needed} database "
            f"connections, more than this host may open: ({self.max_connections} "
            f"max_connections - {self.reserved} reserved){share} = {self.allowed}, shared "
            "with every other host and worker; lower LICENSOR_DATABASE_POOL_SIZE, "
            "LICENSOR_DATABASE_MAX_OVERFLOW or --workers, or put PgBouncer in front "
            "(docs/database.md)"
        )


def connection_budget(engine: Engine, settings: Settings, processes: int) -> ConnectionBudget:
    """What ``processes`` web processes would open, against what the server allows:
    ``max_connections`` less the connections reserved for superusers (and, from
    PostgreSQL 16, for ``pg_use_reserved_connections``)."""
    with engine.connect() as connection:
        maximum = int(connection.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(connection.execute(text("SHOW superuser_reserved_connections")).scalar_one())
        has_reserved = connection.execute(
            text("SELECT count(*) FROM pg_settings WHERE name = 'reserved_connections'")
        ).scalar_one()
        if has_reserved:
            reserved += int(connection.execute(text("SHOW reserved_connections")).scalar_one())
    return ConnectionBudget(
        processes=processes,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        max_connections=maximum,
        reserved=reserved,
        share=settings.database_max_connections_share,
    )


def budget_problem(settings: Settings, processes: int) -> str | None:
    """Why ``processes`` web processes would open more connections than this host may
    (``ConnectionBudget.refusal``), or None: they fit, the database is SQLite, or PgBouncer
    stands in front (its own pool bounds the server's connections)."""
    url = settings.resolved_database_url
    if not url.startswith("postgresql") or settings.database_pgbouncer:
        return None
    from licensor.db import make_engine

    engine = make_engine(url)
    try:
        budget = connection_budget(engine, settings, processes)
    finally:
        engine.dispose()
    return None if budget.fits else budget.refusal()
