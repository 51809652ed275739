"""Tallies, and the rules a tally of attempts is throttled by.

Throttling that slows an attacker without locking the owner out (accounts/throttle.py,
the partner API) needs more than fixed windows: a count of failures that outlives a
window, when the last one happened, and a look at a count without adding to it. A tally
lives in the same store as the windows, so several processes share it through Redis.
``claim`` decides and counts in one atomic step (one Lua script in Redis): a check
followed by a count lets a burst of concurrent guesses all pass the same check.
"""

from __future__ import annotations

from dataclasses import dataclass


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
