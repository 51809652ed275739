"""Rate limits behind one small interface: in-process by default, Redis when shared.

Fixed windows: at most ``limit`` hits per ``window`` seconds per key. Both stores give
the same answers, so a deployment with several processes only swaps the store. Tallies
(a count of failures with the time of the last one) serve the throttling of sign-in and
of the partner API.

- ``rules``: a limit by name (``Rule.parse("20/minute")``);
- ``tallies``: a tally, and the ``Backoff`` that decides whether an attempt may be claimed;
- ``limiter``: the ``RateLimiter`` interface, ``enforce`` (``enforce_async`` on the
  event loop), and ``NoRateLimiter``;
- ``memory_store`` and ``redis_store``: the in-process and the shared store.

Import the names from here: ``from licensor.ratelimit import Rule, enforce``.
"""

from licensor.ratelimit.limiter import NoRateLimiter, RateLimiter, enforce, enforce_async
from licensor.ratelimit.memory_store import MemoryRateLimiter
from licensor.ratelimit.redis_store import RedisRateLimiter
from licensor.ratelimit.rules import Rule
from licensor.ratelimit.tallies import MAX_TALLIES, Backoff, Claim, Tally

__all__ = [
    "MAX_TALLIES",
    "Backoff",
    "Claim",
    "MemoryRateLimiter",
    "NoRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "Rule",
    "Tally",
    "enforce",
    "enforce_async",
]
