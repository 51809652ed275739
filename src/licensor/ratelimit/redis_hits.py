"""The API's rate-limit hits counted in Redis from the event loop, many in one round trip.

Every API request counts a hit (``deps.limit``), the validation fast path's included. A
hit through redis-py cost a request a thread hop and about 90 µs of CPU, its asyncio
client about 160 µs: at validation's few hundred µs an answer, limits on cost a third
to a half of the throughput (bench/README.md, "Scale"). Here a hit costs what the event
loop needs to wait for one reply, shared by every hit waiting at that moment:

- ``HitBatcher`` keeps at most one round trip under way per event loop; hits that
  arrive meanwhile wait together and go in the next, as one Lua script that counts them
  all (``COUNT_HITS``). Each hit is counted in Redis before its answer, as
  ``RedisRateLimiter.hit``'s is, and the two share their keys.
- A limit that guards no secret (validation's: it lets hits through when Redis is away)
  takes a window's hits in blocks of up to 16 (``block_size``): the next hits of that
  address on this process use the block without a round trip. A limit is never
  exceeded; blocks left unused on other processes may refuse an address a little early
  (``HitBatcher`` says how much). Limits that guard a code or a password count each hit.
- ``RespConnection`` speaks the few commands this needs (AUTH, SELECT, EVALSHA, EVAL)
  over one asyncio stream, by RESP2 (the protocol every Redis speaks), with the URL
  parsed by redis-py (``redis://``, ``rediss://`` with TLS, ``unix://``).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from dataclasses import dataclass, field
from typing import Any

# Windows counted in one round trip at most (a script's keys); more wait for the next.
BATCH_LIMIT = 512
# A window of ``limit`` hits is taken from Redis in blocks of limit // BLOCK_SHARE hits,
# at most BLOCK_MOST (1, i.e. each hit counted, below 2 x BLOCK_SHARE).
BLOCK_SHARE = 64
BLOCK_MOST = 16

# Each window's hits taken in one INCRBY (its ARGV[i]); a window's expiry (ARGV[n + i])
# is set by its first hits, as ``RedisRateLimiter.hit``'s EXPIRE sets it. The totals.
COUNT_HITS = """
local totals = {}
local n = #KEYS
for i, name in ipairs(KEYS) do
  local amount = tonumber(ARGV[i])
  local total = redis.call('INCRBY', name, amount)
  if total == amount then redis.call('EXPIRE', name, ARGV[n + i]) end
  totals[i] = total
end
return totals
"""
_COUNT_HITS_SHA = hashlib.sha1(COUNT_HITS.encode()).hexdigest()


def block_size(limit: int) -> int:
    """Hits of one window taken from Redis at a time, for a limit of ``limit``."""
    return min(BLOCK_MOST, max(1, limit // BLOCK_SHARE))


class RedisReplyError(Exception):
    """Redis answered a command with an error (``-ERR ...``)."""


class RespConnection:
    """One connection to Redis, one command at a time (``HitBatcher`` sends one)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, url: str) -> RespConnection:
        """Connect as the URL says: host and port or a socket path, TLS for
        ``rediss://``, then AUTH and SELECT when it names them."""
        from redis.connection import parse_url  # the `redis` extra, as the store's client

        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        if "path" in options:
            reader, writer = await asyncio.open_unix_connection(options["path"])
        else:
            tls = ssl.create_default_context() if url.startswith("rediss://") else None
            reader, writer = await asyncio.open_connection(
                options.get("host", "localhost"), options.get("port", 6379), ssl=tls
            )
        connection = cls(reader, writer)
        try:
            if options.get("password") is not None:
                user = options.get("username")
                await connection.call("AUTH", *((user,) if user else ()), options["password"])
            if options.get("db"):
                await connection.call("SELECT", options["db"])
        except BaseException:
            await connection.close()
            raise
        return connection

    async def call(self, *arguments: str | int) -> Any:
        """Send one command and read its reply: str, int, None or a list of them;
        ``RedisReplyError`` for an error reply."""
        parts = [str(argument).encode() for argument in arguments]
        self._writer.write(
            b"*%d\r\n" % len(parts)
            + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)
        )
        return await self._reply()

    async def _reply(self) -> Any:
        line = await self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionResetError("Redis closed the connection")
        kind, text = line[:1], line[1:-2]
        if kind == b":":
            return int(text)
        if kind == b"+":
            return text.decode()
        if kind == b"-":
            raise RedisReplyError(text.decode(errors="replace"))
        if kind == b"$":
            size = int(text)
            return None if size < 0 else (await self._reader.readexactly(size + 2))[:-2].decode()
        if kind == b"*":
            size = int(text)
            return None if size < 0 else [await self._reply() for _ in range(size)]
        raise ConnectionResetError(f"not a Redis reply: {line[:40]!r}")

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass  # already gone: nothing to close


@dataclass
class _Window:
    """The hits of one window waiting for the next round trip."""

    ttl: int
    limit: int
    block: int  # hits taken from Redis at a time, at least
    ends: float  # when the window ends (store time)
    hits: list[asyncio.Future[bool]] = field(default_factory=list)


class HitBatcher:
    """The hits of one event loop waiting for Redis: at most one round trip under way;
    the hits that arrive meanwhile go together in the next.

    A window is taken in blocks (``block_size``): the hits of a block that one request
    did not use are kept here, and the next hits of that window (the same address) take
    them without a round trip. Every hit let through was counted in Redis first, so a
    limit is never exceeded; hits a process took and did not use by the end of the window
    count against the address on the other processes: an address whose hits are spread
    over P processes may be refused after limit - (P - 1) x (block - 1) hits.

    ``allowed`` raises ``OSError``, ``EOFError``, ``TimeoutError`` or ``RedisReplyError``
    when Redis does not count a batch within ``timeout`` (a connect and a reply, tried
    twice: a connection Redis dropped while idle is made again once)."""

    def __init__(self, url: str, timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._url = url
        self._timeout = timeout
        self._connection: RespConnection | None = None
        self._waiting: dict[str, _Window] = {}
        self._sender: asyncio.Task[None] | None = None
        # window name -> (hits taken from Redis and not used yet, when the window ends)
        self._unused: dict[str, tuple[int, float]] = {}
        self._next_sweep = 0.0

    async def allowed(
        self, name: str, ttl: int, limit: int, now: float, ends: float, *, block: bool
    ) -> bool:
        """Count one hit of the window ``name`` (``limit`` hits; it ends at ``ends``, and
        Redis forgets it ``ttl`` seconds after its first hit): whether it is within.
        ``block``: take the window's hits in blocks (else each is counted alone)."""
        if now >= self._next_sweep:
            # Forget windows that ended, so memory follows the live ones only.
            self._unused = {n: kept for n, kept in self._unused.items() if kept[1] > now}
            self._next_sweep = now + 10
        kept = self._unused.get(name)
        if kept is not None:
            if kept[0] > 1:
                self._unused[name] = (kept[0] - 1, kept[1])
            else:
                del self._unused[name]
            return True
        hit: asyncio.Future[bool] = self.loop.create_future()
        window = self._waiting.get(name)
        if window is None:
            window = self._waiting[name] = _Window(
                ttl, limit, block_size(limit) if block else 1, ends
            )
        window.hits.append(hit)
        if self._sender is None:
            self._sender = self.loop.create_task(self._send())
        return await hit

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def _send(self) -> None:
        try:
            while self._waiting:
                self._serve_from_unused()
                names = list(self._waiting)[:BATCH_LIMIT]
                batch = [(name, self._waiting.pop(name)) for name in names]
                amounts = [max(len(window.hits), window.block) for _, window in batch]
                try:
                    totals = await self._counted(
                        names, amounts, [window.ttl for _, window in batch]
                    )
                except (OSError, EOFError, TimeoutError, RedisReplyError, ValueError) as error:
                    await self.close()
                    for _, window in batch:
                        for hit in window.hits:
                            if not hit.done():
                                hit.set_exception(error)
                    continue
                for (name, window), amount, total in zip(batch, amounts, totals, strict=True):
                    # This batch took the hits total - amount + 1 ... total of the window.
                    within = max(0, min(amount, window.limit - (int(total) - amount)))
                    for number, hit in enumerate(window.hits):
                        if not hit.done():  # its request may have gone meanwhile
                            hit.set_result(number < within)
                    left = within - len(window.hits)
                    if left > 0:
                        before = self._unused.get(name, (0, window.ends))[0]
                        self._unused[name] = (before + left, window.ends)
        finally:
            self._sender = None

    def _serve_from_unused(self) -> None:
        """Hits that arrived while their window's block was on its way take from it."""
        for name in [name for name in self._waiting if name in self._unused]:
            window = self._waiting[name]
            left, ends = self._unused.pop(name)
            while window.hits and left:
                hit = window.hits.pop(0)
                left -= 1
                if not hit.done():
                    hit.set_result(True)
            if left:
                self._unused[name] = (left, ends)
            if not window.hits:
                del self._waiting[name]

    async def _counted(self, names: list[str], amounts: list[int], ttls: list[int]) -> list[int]:
        for attempt in (1, 2):
            fresh = self._connection is None
            try:
                async with asyncio.timeout(self._timeout):
                    if self._connection is None:
                        self._connection = await RespConnection.open(self._url)
                async with asyncio.timeout(self._timeout):
                    totals: list[int] = await self._run(self._connection, names, amounts + ttls)
                return totals
            except (OSError, ConnectionResetError, asyncio.IncompleteReadError):
                await self.close()
                if fresh or attempt == 2:
                    raise
            except TimeoutError:
                await self.close()
                raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _run(connection: RespConnection, names: list[str], arguments: list[int]) -> Any:
        try:
            return await connection.call("EVALSHA", _COUNT_HITS_SHA, len(names), *names, *arguments)
        except RedisReplyError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            # The first batch after Redis started: EVAL caches the script under its hash.
            return await connection.call("EVAL", COUNT_HITS, len(names), *names, *arguments)
