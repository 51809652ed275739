"""What a limited route or throttle talks to: the store's interface, a store that limits
nothing, and ``enforce`` (``enforce_async`` on the event loop)."""

from __future__ import annotations

import time
from typing import Protocol

from licensor.errors import RateLimited, RateLimitStoreDown
from licensor.logging import log
from licensor.ratelimit.rules import Rule
from licensor.ratelimit.tallies import Backoff, Claim, Tally


class RateLimiter(Protocol):
    blocking: bool  # True when hit() waits on the network

    def hit(self, rule: Rule, key: str) -> int | None:
        """Count one hit; return seconds to wait if over the limit, else None."""

    async def ahit(self, rule: Rule, key: str, *, in_blocks: bool = False) -> int | None:
        """``hit`` from the event loop, never blocking it. ``in_blocks``: a shared store
        may take hits of the window in blocks, each counted before it is used, and a
        block's unused hits then count against the key on other processes (redis_hits);
        for limits that let hits through when the store is down: they guard no secret."""

    async def aclose(self) -> None:
        """Close what ``ahit`` opened on the running event loop (at the app's shutdown)."""

    # Throttling, by tallies (ratelimit/tallies.py).
    def now(self) -> float:
        """The store's time, in seconds."""

    def peek(self, rule: Rule, key: str) -> int | None:
        """Seconds to wait if the next hit would be over the limit, else None; counts nothing."""

    def tally(self, key: str) -> Tally | None:
        """The tally kept under ``key``, or None (never added to, cleared, or expired)."""

    def add(self, key: str, ttl: float, *, renew: bool = True) -> Tally:
        """Add one to the tally under ``key``; it expires ``ttl`` seconds after the last
        addition (``renew``) or after the first (a fixed window)."""

    def clear(self, key: str) -> None:
        """Forget the tally under ``key``."""

    def claim(self, key: str, backoff: Backoff, *, enforce: bool = True) -> Claim:
        """Count one attempt under ``key`` if ``backoff`` allows it now, in one atomic
        step (so concurrent attempts cannot all pass one check); a refused attempt counts
        nothing. ``enforce`` False: count it whatever the tally says."""

    def release(self, key: str, claim: Claim) -> None:
        """Give back an attempt ``claim`` counted: the tally as it was before it, if
        nothing was counted since; else one less."""


class NoRateLimiter:
    """Limits nothing (``LICENSOR_RATE_LIMITS=off``: tests and benchmarks)."""

    blocking = False

    def hit(self, rule: Rule, key: str) -> int | None:
        return None

    async def ahit(self, rule: Rule, key: str, *, in_blocks: bool = False) -> int | None:
        return None

    async def aclose(self) -> None:
        pass

    def now(self) -> float:
        return time.time()

    def peek(self, rule: Rule, key: str) -> int | None:
        return None

    def tally(self, key: str) -> Tally | None:
        return None  # nothing is ever throttled

    def add(self, key: str, ttl: float, *, renew: bool = True) -> Tally:
        now = time.time()
        return Tally(0, now, now)

    def clear(self, key: str) -> None:
        pass

    def claim(self, key: str, backoff: Backoff, *, enforce: bool = True) -> Claim:
        return Claim(True, None, 1)

    def release(self, key: str, claim: Claim) -> None:
        pass


def enforce(limiter: RateLimiter, rule: Rule, key: str, *, fail_open: bool = False) -> None:
    """Count one hit; raise ``RateLimited`` over the limit.

    When the store is down, a limit that protects a guessable secret (a code, a password,
    a token: the default) answers 503 ``service_unavailable``, since letting every guess
    through would disarm it; ``fail_open`` lets the request through instead (validation
    of a license the app already holds must keep answering). Both are logged."""
    try:
        retry_after = limiter.hit(rule, key)
    except RateLimitStoreDown:
        if _let_through(rule, fail_open):
            return
        raise
    if retry_after is not None:
        raise RateLimited(retry_after)


async def enforce_async(
    limiter: RateLimiter, rule: Rule, key: str, *, fail_open: bool = False
) -> None:
    """``enforce`` from the event loop: the store is asked without blocking it (Redis
    counts the hits of concurrent requests in one round trip)."""
    try:
        retry_after = await limiter.ahit(rule, key, in_blocks=fail_open)
    except RateLimitStoreDown:
        if _let_through(rule, fail_open):
            return
        raise
    if retry_after is not None:
        raise RateLimited(retry_after)


def _let_through(rule: Rule, fail_open: bool) -> bool:
    """Whether a hit the store could not count goes through; logged either way."""
    log.warning("ratelimit.store_down", rule=rule.name, let_through=fail_open)
    return fail_open
