"""Request dependencies: the database, the keyring, the clock, rate limits.

The cheap ones are ``async`` so they run on the event loop instead of a thread hop.

Access is visible in each route's signature through these ``Annotated`` aliases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.types import Scope

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.ratelimit import RateLimiter, Rule, enforce_async
from licensor.units import UnitOfWork


async def _database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


class Units:
    """The request's unit of work, opened by the route in its own thread (docs/adr/0001):
    ``with work.open() as unit: unit.licensing.activate(...)``."""

    def __init__(self, request: Request) -> None:
        state = request.app.state
        self.database: Database = state.db
        self.keyring: Keyring = state.keyring
        self.settings: Settings = state.settings
        self.now: datetime = state.clock.now()
        self.actor = f"api:{client_address(request)}"

    @contextmanager
    def open(self) -> Iterator[UnitOfWork]:
        with self.database.transaction() as session:
            yield UnitOfWork(session, self.keyring, self.settings, self.now, actor=self.actor)


async def _units(request: Request) -> Units:
    return Units(request)


# Routes open their unit of work themselves, in their own thread (docs/adr/0001):
#     with work.open() as unit: ...
Work = Annotated[Units, Depends(_units)]
Db = Annotated[Database, Depends(_database)]
Keys = Annotated[Keyring, Depends(_keyring)]
AppSettings = Annotated[Settings, Depends(_settings)]
Now = Annotated[datetime, Depends(_now)]


# A row id in a path: the database's ids are signed 64-bit integers, so anything larger
# names no row, and must not reach the database (which would refuse it: a 500).
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def client_address(request: Request) -> str:
    return client_host(request.scope)


def client_host(scope: Scope) -> str:
    """The client's address, from the ASGI scope (what ``client_address`` reads)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def limit(limiter: RateLimiter, rule: Rule, address: str, *, fail_open: bool = False) -> None:
    """Count one hit of ``rule`` against ``address``; ``RateLimited`` over the limit.

    Every limit of the API goes through here, the validation fast path's included
    (``ratelimit.enforce`` says what ``fail_open`` does when the store is down). Counted
    on the event loop without blocking it: a thread hop per request to reach Redis cost
    a third of validation's throughput (bench/README.md, "Scale")."""
    await enforce_async(limiter, rule, address, fail_open=fail_open)


def rate_limited(
    rule_name: str, *, fail_open: bool = False
) -> Callable[[Request], Awaitable[None]]:
    """A dependency counting one hit of the named rule against the client's address."""

    async def check(request: Request) -> None:
        state = request.app.state
        await limit(
            state.limiter, state.rules[rule_name], client_address(request), fail_open=fail_open
        )

    return check
