"""The in-process store: windows and tallies in this process's memory, under one lock."""

from __future__ import annotations

import threading
import time
from typing import Any

from licensor.ratelimit.rules import Rule
from licensor.ratelimit.tallies import MAX_TALLIES, Backoff, Claim, Tally


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

    async def ahit(self, rule: Rule, key: str, *, in_blocks: bool = False) -> int | None:
        return self.hit(rule, key)  # memory only: the lock is held for microseconds

    async def aclose(self) -> None:
        pass

    # tallies (ratelimit/tallies.py) ----------------------------------------------------

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
