"""Rate limits: the in-process store and the shared Redis store give the same answers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Sequence

import pytest

from licensor.errors import RateLimitStoreDown
from licensor.ratelimit import (
    Backoff,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    Rule,
    Tally,
)
from tests.limits import RedisServer


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


def test_rules_parse_their_windows() -> None:
    assert Rule.parse("a", "20/minute") == Rule("a", 20, 60)
    assert Rule.parse("b", "5/10 seconds") == Rule("b", 5, 10)
    assert Rule.parse("c", "100 / hour") == Rule("c", 100, 3600)
    with pytest.raises(ValueError, match="expected"):
        Rule.parse("d", "lots")


def _exercise(fake: FakeTime, limiter: RateLimiter) -> None:
    rule = Rule("activation", 3, 60)
    fake.now = 999_980.0  # 40 s before its window ends (windows start at multiples of 60)
    assert [limiter.hit(rule, "10.0.0.1") for _ in range(3)] == [None, None, None]
    assert limiter.hit(rule, "10.0.0.1") == 40
    assert limiter.hit(rule, "10.0.0.2") is None, "another address has its own count"
    fake.now += 40
    assert limiter.hit(rule, "10.0.0.1") is None, "a new window starts afresh"


def test_the_memory_store_counts_per_key_and_window() -> None:
    fake = FakeTime()
    _exercise(fake, MemoryRateLimiter(now=fake))


def test_the_redis_store_counts_like_the_memory_store(redis_url: str) -> None:
    fake = FakeTime()
    _exercise(fake, RedisRateLimiter(redis_url, now=fake))


def test_two_processes_share_one_redis_count(redis_url: str) -> None:
    fake = FakeTime()
    fake.now = 2_000_040.0
    first, second = RedisRateLimiter(redis_url, now=fake), RedisRateLimiter(redis_url, now=fake)
    rule = Rule("validation", 2, 60)
    assert first.hit(rule, "10.9.9.9") is None
    assert second.hit(rule, "10.9.9.9") is None
    assert first.hit(rule, "10.9.9.9") is not None
    assert second.hit(rule, "10.9.9.9") is not None


async def _hits_at_once(limiter: RateLimiter, rule: Rule, keys: list[str]) -> list[int | None]:
    try:
        return list(await asyncio.gather(*(limiter.ahit(rule, key) for key in keys)))
    finally:
        await limiter.aclose()


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_hits_counted_on_the_event_loop_count_as_hits_do(
    store: str, request: pytest.FixtureRequest
) -> None:
    fake = FakeTime()
    fake.now = 4_000_040.0  # 40 s before its window ends
    limiter: RateLimiter = (
        MemoryRateLimiter(now=fake)
        if store == "memory"
        else RedisRateLimiter(request.getfixturevalue("redis_url"), now=fake)
    )
    rule = Rule("validation", 50, 60)
    # 80 hits from one address and 10 from another at once (Redis: in one round trip,
    # or a few), after 5 counted one by one: exactly 50 of the first address pass.
    assert [limiter.hit(rule, "10.1.1.1") for _ in range(5)] == [None] * 5
    keys = ["10.1.1.1"] * 80 + ["10.1.1.2"] * 10
    answers = asyncio.run(_hits_at_once(limiter, rule, keys))
    assert answers[:45] == [None] * 45
    assert answers[45:80] == [40] * 35
    assert answers[80:] == [None] * 10, "another address has its own count"
    assert limiter.hit(rule, "10.1.1.1") == 40, "one count, whichever way it was reached"
    fake.now += 40
    assert asyncio.run(_hits_at_once(limiter, rule, ["10.1.1.1"])) == [None], "a new window"


def test_hits_on_the_event_loop_fail_at_once_while_redis_is_away(redis_url: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        limiter = RedisRateLimiter(f"redis://127.0.0.1:{closed.getsockname()[1]}/0")
        rule = Rule("validation", 5, 60)
        for _ in range(2):  # the second fails without trying, for a moment
            with pytest.raises(RateLimitStoreDown):
                asyncio.run(_hits_at_once(limiter, rule, ["10.2.2.2"] * 3))


async def _hits_in_blocks(limiters: Sequence[RateLimiter], rule: Rule, count: int) -> list[bool]:
    """``count`` hits of one address, each on the next limiter in turn: whether each passed."""
    passed = []
    for number in range(count):
        limiter = limiters[number % len(limiters)]
        passed.append(await limiter.ahit(rule, "10.3.3.3", in_blocks=True) is None)
    for limiter in limiters:
        await limiter.aclose()
    return passed


def test_hits_taken_in_blocks_never_exceed_the_limit_across_processes(redis_url: str) -> None:
    import redis

    fake = FakeTime()
    fake.now = 5_000_000.0
    rule = Rule("validation", 640, 3600)  # blocks of 640 // 64 = 10 hits
    window = int(fake.now // rule.window)
    counted = redis.Redis.from_url(redis_url)
    processes = [RedisRateLimiter(redis_url, now=fake) for _ in range(3)]
    assert asyncio.run(_hits_in_blocks(processes[:1], rule, 3)) == [True] * 3
    assert counted.get(f"licensor:rl:validation:10.3.3.3:{window}") == b"10", "one block"
    passed = [True] * 3 + asyncio.run(_hits_in_blocks(processes, rule, 697))
    # Never more than the limit; fewer by at most the blocks the others hold unused.
    assert 640 - 2 * (10 - 1) <= passed.count(True) <= 640
    taken = counted.get(f"licensor:rl:validation:10.3.3.3:{window}")
    assert isinstance(taken, bytes)
    assert int(taken) >= 700, "every hit was counted in Redis before it was let through"
    counted.close()


def _exercise_tallies(fake: FakeTime, limiter: RateLimiter) -> None:
    fake.now = 3_000_000.5
    assert limiter.tally("t:a") is None
    assert limiter.add("t:a", 60).count == 1
    fake.now += 30
    second = limiter.add("t:a", 60)
    assert (second.count, second.last, second.expires) == (2, 3_000_030.5, 3_000_090.5)
    assert limiter.tally("t:a") == second, "an addition renews the expiry"
    fixed = [limiter.add("t:window", 60, renew=False) for _ in range(3)]
    fake.now += 59
    assert limiter.add("t:window", 60, renew=False).expires == fixed[0].expires
    fake.now += 1
    assert limiter.tally("t:window") is None, "a fixed window ends 60 s after its first"
    assert limiter.add("t:window", 60, renew=False).count == 1
    limiter.clear("t:a")
    assert limiter.tally("t:a") is None
    rule = Rule("peeked", 2, 60)
    fake.now = 3_000_100.0  # 20 s before its window ends
    assert limiter.peek(rule, "k") is None
    limiter.hit(rule, "k")
    assert limiter.peek(rule, "k") is None
    limiter.hit(rule, "k")
    assert limiter.peek(rule, "k") == 20, "a look says the next hit would be refused"
    assert limiter.hit(rule, "k") == 20, "and looking counted nothing"


def test_the_memory_store_keeps_tallies() -> None:
    fake = FakeTime()
    _exercise_tallies(fake, MemoryRateLimiter(now=fake))


def test_the_redis_store_keeps_tallies_like_the_memory_store(redis_url: str) -> None:
    fake = FakeTime()
    _exercise_tallies(fake, RedisRateLimiter(redis_url, now=fake))


def _exercise_claims(fake: FakeTime, limiter: RateLimiter) -> None:
    """Claims as the sign-in throttle makes them (accounts/throttle.py)."""
    backoff = Backoff(limit=5, free=2, delay_cap=3, ttl=1000, fresh_ttl=100)
    fake.now = 4_000_000.25
    first = limiter.claim("c:a", backoff)
    assert (first.allowed, first.before, first.count) == (True, None, 1)
    assert limiter.tally("c:a") == Tally(1, 4_000_000.25, 4_000_100.25), "fresh: kept briefly"
    limiter.claim("c:a", backoff)
    third = limiter.claim("c:a", backoff)  # the third: past ``free`` now, so kept long
    assert (third.allowed, third.count) == (True, 3)
    assert limiter.tally("c:a") == Tally(3, 4_000_000.25, 4_001_000.25)
    waits = limiter.claim("c:a", backoff)  # 3 counted: 2^0 s after the last
    assert (waits.allowed, waits.retry_after, waits.locked) == (False, 1.0, False)
    assert limiter.tally("c:a") == Tally(3, 4_000_000.25, 4_001_000.25), "refused: uncounted"
    forced = limiter.claim("c:a", backoff, enforce=False)
    assert (forced.allowed, forced.count) == (True, 4)
    limiter.release("c:a", forced)
    assert limiter.tally("c:a") == Tally(3, 4_000_000.25, 4_001_000.25), "given back exactly"
    fake.now += 1
    mine = limiter.claim("c:a", backoff)
    later = limiter.claim("c:a", backoff, enforce=False)
    limiter.release("c:a", mine)  # another was counted since: one less, its time kept
    assert limiter.tally("c:a") == Tally(4, 4_000_001.25, 4_001_001.25)
    fake.now += 2
    assert limiter.claim("c:a", backoff).count == 5
    fake.now += 100
    locked = limiter.claim("c:a", backoff)
    assert (locked.allowed, locked.locked, locked.retry_after) == (False, True, 900.0)
    limiter.release("c:a", later)  # a refused claim's release and a stale one: harmless
    window = Backoff(limit=2, free=2, delay_cap=0, ttl=60, renew=False)
    assert [limiter.claim("c:w", window).allowed for _ in range(3)] == [True, True, False]
    fake.now += 60
    renewed = limiter.claim("c:w", window)
    assert (renewed.allowed, renewed.before) == (True, None), "a fixed window ends"
    limiter.release("c:w", renewed)
    assert limiter.tally("c:w") is None, "given back to nothing: gone"


def test_the_memory_store_claims_atomically_by_the_backoff() -> None:
    fake = FakeTime()
    _exercise_claims(fake, MemoryRateLimiter(now=fake))


def test_the_redis_store_claims_like_the_memory_store(redis_url: str) -> None:
    fake = FakeTime()
    _exercise_claims(fake, RedisRateLimiter(redis_url, now=fake))


def test_a_full_memory_store_forgets_the_tallies_ending_soonest_first() -> None:
    fake = FakeTime()
    limiter = MemoryRateLimiter(now=fake, max_tallies=100)
    backoff = Backoff(limit=100, free=1, delay_cap=1, ttl=1000, fresh_ttl=10)
    limiter.claim("kept", backoff)
    limiter.claim("kept", backoff)  # past ``free``: kept 1000 s
    for n in range(500):  # someone typing a new email at every try
        limiter.claim(f"sprayed:{n}", backoff)

    assert limiter.tally("kept") is not None
    assert sum(limiter.tally(f"sprayed:{n}") is not None for n in range(500)) < 100
    assert limiter.tally("sprayed:499") is not None, "the newest stay"
