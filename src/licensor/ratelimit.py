"""Rate limits behind one small interface: in-process by default, Redis when shared.

Fixed windows: at most ``limit`` hits per ``window`` seconds per key. Both stores give
the same answers, so a deployment with several processes only swaps the store.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from licensor.errors import RateLimited

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


class MemoryRateLimiter:
    """Counts in this process only: right for one process, wrong behind several."""

    blocking = False

    def __init__(self, now: Any = time.time) -> None:
        self._now = now
        # (rule, key) -> (end of the current window, hits in it)
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def reset(self) -> None:
        """Forget every count (tests start each case afresh)."""
        with self._lock:
            self._counts.clear()

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


class RedisRateLimiter:
    """The same fixed windows in Redis (INCR + EXPIRE), shared by every process."""

    blocking = True

    def __init__(self, url: str, now: Any = time.time) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._now = now

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


class NoRateLimiter:
    blocking = False

    def hit(self, rule: Rule, key: str) -> int | None:
        return None


def enforce(limiter: RateLimiter, rule: Rule, key: str) -> None:
    retry_after = limiter.hit(rule, key)
    if retry_after is not None:
        raise RateLimited(retry_after)
