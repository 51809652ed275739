"""Request dependencies: the unit of work, the keyring, the clock, rate limits.

The cheap ones are ``async`` so they run on the event loop instead of a thread hop.

Access is visible in each route's signature through these ``Annotated`` aliases.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from licensor.config import Settings
from licensor.keys import Keyring
from licensor.ratelimit import RateLimiter, Rule, enforce


def _session(request: Request) -> Iterator[Session]:
    # One request = one transaction: commit when the route returns, roll back on error.
    # scope="function" (below) runs this exit before the response is sent, so a failed
    # commit is a 500, never a success the database does not hold.
    with request.app.state.db.transaction() as session:
        yield session


async def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


DbSession = Annotated[Session, Depends(_session, scope="function")]
Keys = Annotated[Keyring, Depends(_keyring)]
AppSettings = Annotated[Settings, Depends(_settings)]
Now = Annotated[datetime, Depends(_now)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_limited(rule_name: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency counting one hit of the named rule against the client's address."""

    async def check(request: Request) -> None:
        limiter: RateLimiter = request.app.state.limiter
        rule: Rule = request.app.state.rules[rule_name]
        if limiter.blocking:
            # A network store (Redis) must not stall the event loop.
            await run_in_threadpool(enforce, limiter, rule, client_address(request))
        else:
            enforce(limiter, rule, client_address(request))

    return check
