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

    def claim(self, key: str, backoff: Backoff, *, enforce: bool = True) -> Claim:
        """Count one attempt under ``key`` if ``backoff`` allows it now, in one atomic
        step (so concurrent attempts cannot all pass one check); a refused attempt counts
        nothing. ``enforce`` False: count it whatever the tally says."""

    def release(self, key: str, claim: Claim) -> None:
        """Give back an attempt ``claim`` counted: the tally as it was before it, if
        nothing was counted since; else one less."""


class MemoryRateLimiter:
    """Counts in this process only: right for one process, wrong behind several."""

    blocking = False

    def __init__(self, now: Any = time.time, *, max_tallies: int | None = None) -> None:
        self._now = now
        self._max_tallies = max_tallies or MAX_TALLIES
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
            found = self._live_tally(key, now)
            if found is None:
                added = Tally(1, now, now + ttl)
            else:
                added = Tally(found.count + 1, now, now + ttl if renew else found.expires)
            self._tallies[key] = added
        return added

    def clear(self, key: str) -> None:
        with self._lock:
            self._tallies.pop(key, None)

    def claim(self, key: str, backoff: Backoff, *, enforce: bool = True) -> Claim:
        now = float(self._now())
        with self._lock:
            before = self._live_tally(key, now)
            refusal = backoff.refusal(before, now) if enforce else None
            if refusal is not None:
                return refusal
            count = before.count + 1 if before else 1
            if before is None or backoff.renew:
                expires = now + backoff.ttl_at(count)
            else:
                expires = before.expires
            self._tallies[key] = Tally(count, now, expires)
        return Claim(True, before, count)

    def release(self, key: str, claim: Claim) -> None:
        with self._lock:
            found = self._tallies.get(key)
            if found is None or not claim.allowed:
                return
            if found.count == claim.count:  # nothing counted since: as it was
                if claim.before is None:
                    del self._tallies[key]
                else:
                    self._tallies[key] = claim.before
            elif found.count > 1:
                self._tallies[key] = Tally(found.count - 1, found.last, found.expires)

    def _live_tally(self, key: str, now: float) -> Tally | None:
        """The tally under ``key`` unless expired; makes room first when ``key`` is new.
        Called with the lock held."""
        found = self._tallies.get(key)
        if found is not None and found.expires > now:
            return found
        if now >= self._next_tally_sweep or len(self._tallies) >= self._max_tallies:
            self._tallies = {k: v for k, v in self._tallies.items() if v.expires > now}
            self._next_tally_sweep = now + 60
            if len(self._tallies) >= self._max_tallies:
                # Full of live tallies (someone typing a new email at every try): forget
                # the tenth that would end soonest, i.e. counts that never reached a delay
                # before any account's long-kept state.
                ending = sorted(self._tallies, key=lambda k: self._tallies[k].expires)
                for name in ending[: max(1, self._max_tallies // 10)]:
                    del self._tallies[name]
        return None


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
        self._claim_script = self._redis.register_script(_CLAIM)
        self._release_script = self._redis.register_script(_RELEASE)

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

    @_reaching_redis
    def claim(self, key: str, backoff: Backoff, *, enforce: bool = True) -> Claim:
        now = float(self._now())
        allowed, count, last, expires, retry_after, locked = self._claim_script(
            keys=[f"licensor:tally:{key}"],
            args=[
                repr(now),
                "1" if enforce else "0",
                backoff.limit,
                backoff.free,
                repr(float(backoff.delay_cap)),
                repr(float(backoff.fresh_ttl if backoff.fresh_ttl is not None else backoff.ttl)),
                repr(float(backoff.ttl)),
                "1" if backoff.renew else "0",
            ],
        )
        before = Tally(int(count), float(last), float(expires)) if int(count) else None
        if not int(allowed):
            return Claim(False, before, int(count), float(retry_after), bool(int(locked)))
        return Claim(True, before, int(count) + 1)

    @_reaching_redis
    def release(self, key: str, claim: Claim) -> None:
        if not claim.allowed:
            return
        before = claim.before
        self._release_script(
            keys=[f"licensor:tally:{key}"],
            args=[
                claim.count,
                *((repr(before.last), repr(before.expires)) if before else ("", "")),
                repr(float(self._now())),
            ],
        )


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

    def claim(self, key: str, backoff: Backoff, *, enforce: bool = True) -> Claim:
        return Claim(True, None, 1)

    def release(self, key: str, claim: Claim) -> None:
        pass


# --- Tallies ---------------------------------------------------------------------------
# Throttling that slows an attacker without locking the owner out (accounts/throttle.py,
# the partner API) needs more than fixed windows: a count of failures that outlives a
# window, when the last one happened, and a look at a count without adding to it. A tally
# lives in the same store as the windows, so several processes share it through Redis.
# ``claim`` decides and counts in one atomic step (one Lua script in Redis): a check
# followed by a count lets a burst of concurrent guesses all pass the same check.


@dataclass(frozen=True)
class Tally:
    count: int
    last: float  # store time of the last addition
    expires: float  # store time at which the tally is forgotten


# How many tallies the in-process store keeps at most (about 30 MB): past that it forgets
# the ones that would end soonest. Redis is bounded by its own ``maxmemory`` (with the
# ``volatile-ttl`` policy it too drops the soonest-ending first).
MAX_TALLIES = 100_000


@dataclass(frozen=True)
class Backoff:
    """How a tally of attempts throttles the next one (``claim``): none once ``limit``
    are counted; past ``free`` counted, each waits 1, 2, 4, ... seconds after the last
    (2^(n - free - 1) after n, at most ``delay_cap``). A tally is forgotten ``ttl``
    seconds after its last attempt (``renew``) or its first (a fixed window);
    ``fresh_ttl``, when given, while it counts no more than ``free``: counts that never
    slowed anyone need not be kept long."""

    limit: int
    free: int
    delay_cap: float
    ttl: float
    fresh_ttl: float | None = None
    renew: bool = True

    def delay(self, count: int) -> float:
        if count <= self.free:
            return 0.0
        return float(min(2 ** min(count - self.free - 1, 62), self.delay_cap))

    def ttl_at(self, count: int) -> float:
        return self.fresh_ttl if self.fresh_ttl is not None and count <= self.free else self.ttl

    def refusal(self, before: Tally | None, now: float) -> Claim | None:
        """The refused claim when ``before`` allows no attempt at ``now``, else None."""
        if before is None:
            return None
        if before.count >= self.limit:
            return Claim(False, before, before.count, before.expires - now, locked=True)
        ready = before.last + self.delay(before.count)
        if now < ready:
            return Claim(False, before, before.count, ready - now)
        return None


@dataclass(frozen=True)
class Claim:
    """An attempt ``claim`` counted (``allowed``), or refused. ``before``: the tally as
    it was (None: there was none); ``count``: the tally's count after this claim;
    ``retry_after``: seconds until the next attempt may be tried, when refused;
    ``locked``: refused because ``limit`` is reached (for as long as the tally lives)."""

    allowed: bool
    before: Tally | None
    count: int
    retry_after: float = 0.0
    locked: bool = False


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


# ``claim`` in one round trip, atomic: the rule of ``Backoff.refusal`` on the tally as it
# is, then, if allowed, the count, the time and the expiry (by ``Backoff.ttl_at``).
# Returns allowed, the count before, its last and expires (text), retry_after, locked.
_CLAIM = """
local now = tonumber(ARGV[1])
local found = redis.call('HMGET', KEYS[1], 'count', 'last', 'expires')
local count, last, expires = tonumber(found[1]), found[2], found[3]
if not count or not last or not expires or tonumber(expires) <= now then
  count, last, expires = 0, '0', '0'
end
local limit, free, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if ARGV[2] == '1' and count > 0 then
  if count >= limit then
    return {0, count, last, expires, tostring(tonumber(expires) - now), 1}
  end
  if count > free then
    local ready = tonumber(last) + math.min(2 ^ math.min(count - free - 1, 62), cap)
    if now < ready then
      return {0, count, last, expires, tostring(ready - now), 0}
    end
  end
end
local ttl = tonumber(ARGV[7])
if count + 1 <= free then ttl = tonumber(ARGV[6]) end
local new_expires = expires
if count == 0 or ARGV[8] == '1' then new_expires = tostring(now + ttl) end
redis.call('HSET', KEYS[1], 'count', count + 1, 'last', ARGV[1], 'expires', new_expires)
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(new_expires) - now) + 1)
return {1, count, last, expires, '0', 0}
"""

# ``release``: as it was before the claim (count ARGV[1] - 1, its last and expires; ARGV[4]
# is now), if nothing was counted since; else one less.
_RELEASE = """
local count = tonumber(redis.call('HGET', KEYS[1], 'count'))
if not count then return 0 end
if count == tonumber(ARGV[1]) then
  if ARGV[2] == '' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('HSET', KEYS[1], 'count', count - 1, 'last', ARGV[2], 'expires', ARGV[3])
    redis.call('EXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(ARGV[3]) - tonumber(ARGV[4])) + 1))
  end
elseif count > 1 then
  redis.call('HINCRBY', KEYS[1], 'count', -1)
end
return 1
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
