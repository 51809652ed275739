"""Rate limits behind one small interface: in-process by default, Redis when shared.

Fixed windows: at most ``limit`` hits per ``window`` seconds per key. Both stores give
the same answers, so a deployment with several processes only swaps the store. Tallies
(a count of failures with the time of the last one) serve the throttling of sign-in and
of the partner API; they are in a section of their own below.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from licensor.errors import RateLimited, RateLimitStoreDown
from licensor.logging import log

P = ParamSpec("P")
R = TypeVar("R")

# After Redis failed to answer, calls fail at once for this long, then try it again.
DOWN_SECONDS = 1.0

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window: int

    @classmethod
    def parse(cls, name: str, text: str) -> Rule:
        """``"20/minute"``, ``"5/10 seconds"``, ``"100/hour"``."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)?\s*(second|minute|hour|day)s?\s*", text)
        if not match:
            raise ValueError(f"rate {text!r}: expected e.g. '20/minute'")
        limit, count, unit = match.groups()
        return cls(name, int(limit), int(count or 1) * _UNITS[unit])


class RateLimiter(Protocol):
    blocking: bool  # True when hit() waits on the network

    def hit(self, rule: Rule, key: str) -> int | None:
        """Count one hit; return seconds to wait if over the limit, else None."""

    # Throttling (see the section "Tallies" below).
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


class MemoryRateLimiter:
    """Counts in this process only: right for one process, wrong behind several."""

    blocking = False

    def __init__(self, now: Any = time.time) -> None:
        self._now = now
        # (rule, key) -> (end of the current window, hits in it)
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}
        self._tallies: dict[str, Tally] = {}
        self._next_tally_sweep = 0.0
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def reset(self) -> None:
        """Forget every count (tests start each case afresh)."""
        with self._lock:
            self._counts.clear()
            self._tallies.clear()

    def hit(self, rule: Rule, key: str) -> int | None:
        now = self._now()
        window_end = (int(now // rule.window) + 1) * rule.window
        with self._lock:
            if now >= self._next_sweep:
                # Forget ended windows, so memory follows live clients only.
                self._counts = {slot: v for slot, v in self._counts.items() if v[0] > now}
                self._next_sweep = now + 60
            seen_end, count = self._counts.get((rule.name, key), (window_end, 0))
            count = count + 1 if seen_end == window_end else 1
            self._counts[(rule.name, key)] = (window_end, count)
        if count > rule.limit:
            return max(1, int(window_end - now + 0.999))
        return None

    # tallies (see the section below) ---------------------------------------------------

    def now(self) -> float:
        return float(self._now())

    def peek(self, rule: Rule, key: str) -> int | None:
        now = self._now()
        window_end = (int(now // rule.window) + 1) * rule.window
        with self._lock:
            seen_end, count = self._counts.get((rule.name, key), (window_end, 0))
        if seen_end == window_end and count >= rule.limit:
            return max(1, int(window_end - now + 0.999))
        return None

    def tally(self, key: str) -> Tally | None:
        now = self._now()
        with self._lock:
            found = self._tallies.get(key)
        return found if found is not None and found.expires > now else None

    def add(self, key: str, ttl: float, *, renew: bool = True) -> Tally:
        now = self._now()
        with self._lock:
            if now >= self._next_tally_sweep:
                self._tallies = {k: v for k, v in self._tallies.items() if v.expires > now}
                self._next_tally_sweep = now + 60
            found = self._tallies.get(key)
            if found is None or found.expires <= now:
                added = Tally(1, now, now + ttl)
            else:
                added = Tally(found.count + 1, now, now + ttl if renew else found.expires)
            self._tallies[key] = added
        return added

    def clear(self, key: str) -> None:
        with self._lock:
            self._tallies.pop(key, None)


def _reaching_redis(method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """A store call that raises ``RateLimitStoreDown`` when Redis does not answer in time,
    and at once for a moment after that (so an outage costs each request no wait)."""

    @functools.wraps(method)
    def guarded(store: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if time.monotonic() < store._down_until:
            raise RateLimitStoreDown()
        try:
            return method(store, *args, **kwargs)
        except store._errors as error:
            store._down_until = time.monotonic() + DOWN_SECONDS
            raise RateLimitStoreDown() from error

    return guarded


class RedisRateLimiter:
    """The same fixed windows in Redis (INCR + EXPIRE), shared by every process.

    Each call waits ``timeout`` seconds at most (to connect, then to read); a store that
    does not answer raises ``RateLimitStoreDown`` (see ``enforce``)."""

    blocking = True

    def __init__(self, url: str, now: Any = time.time, *, timeout: float = 0.25) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # One retry, at once: a pooled connection Redis dropped reconnects; a Redis
            # that is away is not waited for.
            retry=Retry(NoBackoff(), 1),
        )
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._down_until = 0.0
        self._now = now
        self._add_script = self._redis.register_script(_ADD_TO_TALLY)

    @_reaching_redis
    def ping(self) -> None:
        """Raise ``RateLimitStoreDown`` unless Redis answers (the readiness check)."""
        self._redis.ping()

    @_reaching_redis
    def hit(self, rule: Rule, key: str) -> int | None:
        now = self._now()
        window = int(now // rule.window)
        name = f"licensor:rl:{rule.name}:{key}:{window}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, rule.window + 1)
        count = int(pipe.execute()[0])
        if count > rule.limit:
            return max(1, int((window + 1) * rule.window - now + 0.999))
        return None

    # tallies (see the section below) ---------------------------------------------------

    def now(self) -> float:
        return float(self._now())

    @_reaching_redis
    def peek(self, rule: Rule, key: str) -> int | None:
        now = self._now()
        window = int(now // rule.window)
        count = int(self._redis.get(f"licensor:rl:{rule.name}:{key}:{window}") or 0)
        if count >= rule.limit:
            return max(1, int((window + 1) * rule.window - now + 0.999))
        return None

    @_reaching_redis
    def tally(self, key: str) -> Tally | None:
        now = self._now()
        count, last, expires = self._redis.hmget(
            f"licensor:tally:{key}", "count", "last", "expires"
        )
        if count is None or last is None or expires is None or float(expires) <= now:
            return None
        return Tally(int(count), float(last), float(expires))

    @_reaching_redis
    def add(self, key: str, ttl: float, *, renew: bool = True) -> Tally:
        now = self._now()
        count, expires = self._add_script(
            keys=[f"licensor:tally:{key}"], args=[repr(now), repr(ttl), "1" if renew else "0"]
        )
        return Tally(int(count), now, float(expires))

    @_reaching_redis
    def clear(self, key: str) -> None:
        self._redis.delete(f"licensor:tally:{key}")


class NoRateLimiter:
    blocking = False

    def hit(self, rule: Rule, key: str) -> int | None:
        return None

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


# --- Tallies ---------------------------------------------------------------------------
# Throttling that slows an attacker without locking the owner out (accounts/throttle.py,
# the partner API) needs more than fixed windows: a count of failures that outlives a
# window, when the last one happened, and a look at a count without adding to it. A tally
# lives in the same store as the windows, so several processes share it through Redis.


@dataclass(frozen=True)
class Tally:
    count: int
    last: float  # store time of the last addition
    expires: float  # store time at which the tally is forgotten


# One round trip, atomic: count, time of the last addition, and the expiry, renewed on
# every addition or set by the first one only (a fixed window). Numbers go back as text,
# which keeps their fractions.
_ADD_TO_TALLY = """
local expires = redis.call('HGET', KEYS[1], 'expires')
if expires and tonumber(expires) <= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  expires = false
end
local count = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
if count == 1 or ARGV[3] == '1' or not expires then
  expires = tostring(tonumber(ARGV[1]) + tonumber(ARGV[2]))
  redis.call('HSET', KEYS[1], 'expires', expires)
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
end
return {count, expires}
"""


def enforce(limiter: RateLimiter, rule: Rule, key: str, *, fail_open: bool = False) -> None:
    """Count one hit; raise ``RateLimited`` over the limit.

    When the store is down, a limit that protects a guessable secret (a code, a password,
    a token: the default) answers 503 ``service_unavailable``, since letting every guess
    through would disarm it; ``fail_open`` lets the request through instead (validation
    of a license the app already holds must keep answering). Both are logged."""
    try:
        retry_after = limiter.hit(rule, key)
    except RateLimitStoreDown:
        log.warning("ratelimit.store_down", rule=rule.name, let_through=fail_open)
        if fail_open:
            return
        raise
    if retry_after is not None:
        raise RateLimited(retry_after)
