"""Request dependencies: the unit of work, the keyring, the clock, rate limits.

Access is visible in each route's signature through these ``Annotated`` aliases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from licensor.config import Settings
from licensor.keys import Keyring
from licensor.ratelimit import RateLimiter, Rule, enforce


def _session(request: Request) -> Iterator[Session]:
    # One request = one transaction: commit when the route returns, roll back on error.
    # scope="function" (below) runs this exit before the response is sent, so a failed
    # commit is a 500, never a success the database does not hold.
    with request.app.state.db.transaction() as session:
        yield session


def _keyring(request: Request) -> Keyring:
    keyring: Keyring = request.app.state.keyring
    return keyring


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


DbSession = Annotated[Session, Depends(_session, scope="function")]
Keys = Annotated[Keyring, Depends(_keyring)]
AppSettings = Annotated[Settings, Depends(_settings)]
Now = Annotated[datetime, Depends(_now)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def rate_limited(rule_name: str) -> Callable[[Request], None]:
    """A dependency counting one hit of the named rule against the client's address."""

    def check(request: Request) -> None:
        limiter: RateLimiter = request.app.state.limiter
        rule: Rule = request.app.state.rules[rule_name]
        enforce(limiter, rule, client_address(request))

    return check
