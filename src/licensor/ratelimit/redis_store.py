"""The shared store: windows and tallies in Redis, each change one atomic round trip.

The API's limits (``ahit``, the validation fast path's among them) are counted on the
event loop, the hits of concurrent requests in one round trip (``redis_hits``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from licensor.errors import RateLimitStoreDown
from licensor.ratelimit.redis_hits import HitBatcher, RedisReplyError
from licensor.ratelimit.rules import Rule
from licensor.ratelimit.tallies import Backoff, Claim, Tally

P = ParamSpec("P")
R = TypeVar("R")

# After Redis failed to answer, calls fail at once for this long, then try it again.
DOWN_SECONDS = 1.0


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
            store._went_down()
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
        self._url = url
        self._timeout = timeout
        self._batcher: HitBatcher | None = None

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

    async def ahit(self, rule: Rule, key: str, *, in_blocks: bool = False) -> int | None:
        """``hit`` without leaving the event loop: counted with the hits of other requests
        waiting at the same moment, in one round trip; ``in_blocks``, for a large limit,
        in blocks that the next hits of the same window take from without one
        (``redis_hits``)."""
        if time.monotonic() < self._down_until:
            raise RateLimitStoreDown()
        now = self._now()
        window = int(now // rule.window)
        name = f"licensor:rl:{rule.name}:{key}:{window}"
        ends = (window + 1) * rule.window
        try:
            allowed = await self._loop_batcher().allowed(
                name, rule.window + 1, rule.limit, now, ends, block=in_blocks
            )
        except (OSError, EOFError, TimeoutError, RedisReplyError, ValueError) as error:
            self._went_down()
            raise RateLimitStoreDown() from error
        return None if allowed else max(1, int(ends - now + 0.999))

    async def aclose(self) -> None:
        """Close the connections ``ahit`` opened on the running event loop (at shutdown)."""
        batcher = self._batcher
        if batcher is not None and batcher.loop is asyncio.get_running_loop():
            self._batcher = None
            await batcher.close()

    def _loop_batcher(self) -> HitBatcher:
        """The batcher of the running event loop (an asyncio client belongs to one loop;
        a server process has one, tests may run several servers in one process)."""
        loop = asyncio.get_running_loop()
        batcher = self._batcher
        if batcher is None or batcher.loop is not loop:
            batcher = self._batcher = HitBatcher(self._url, self._timeout, loop)
        return batcher

    def _went_down(self) -> None:
        self._down_until = time.monotonic() + DOWN_SECONDS

    # tallies (ratelimit/tallies.py) ----------------------------------------------------

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
