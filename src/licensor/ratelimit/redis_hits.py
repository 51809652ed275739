"""The API's rate-limit hits counted in Redis from the event loop, many in one round trip.

Every API request counts a hit (``deps.limit``), the validation fast path's included. A
hit through redis-py cost a request a thread hop and about 90 µs of CPU, its asyncio
client about 160 µs: at validation's few hundred µs an answer, limits on cost a third
to a half of the throughput (bench/README.md, "Scale"). Here a hit costs what the event
loop needs to wait for one reply, shared by every hit waiting at that moment:

- ``HitBatcher`` keeps at most one round trip under way per event loop; hits that
  arrive meanwhile wait together and go in the next, as one Lua script that counts them
  all (``COUNT_HITS``). Each hit is counted in Redis before its answer, so the windows
  are exact, as ``RedisRateLimiter.hit``'s are, and the two share their keys.
- ``RespConnection`` speaks the few commands this needs (AUTH, SELECT, EVALSHA, EVAL)
  over one asyncio stream, by RESP2 (the protocol every Redis speaks), with the URL
  parsed by redis-py (``redis://``, ``rediss://`` with TLS, ``unix://``).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from typing import Any

# Hits counted in one round trip at most (a script's keys); more wait for the next.
BATCH_LIMIT = 512

# The fixed windows of a batch, one INCR each (a name may come twice: each is a hit); a
# window's expiry is set by its first hit, as ``RedisRateLimiter.hit``'s EXPIRE sets it.
COUNT_HITS = """
local counts = {}
for i, name in ipairs(KEYS) do
  local count = redis.call('INCR', name)
  if count == 1 then redis.call('EXPIRE', name, ARGV[i]) end
  counts[i] = count
end
return counts
"""
_COUNT_HITS_SHA = hashlib.sha1(COUNT_HITS.encode()).hexdigest()


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


class HitBatcher:
    """The hits of one event loop waiting for Redis: at most one round trip under way;
    the hits that arrive meanwhile go together in the next.

    ``count`` raises ``OSError``, ``TimeoutError`` or ``RedisReplyError`` when Redis does
    not count a batch within ``timeout`` (a connect and a reply, tried twice: a
    connection Redis dropped while idle is made again once)."""

    def __init__(self, url: str, timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._url = url
        self._timeout = timeout
        self._connection: RespConnection | None = None
        self._waiting: list[tuple[str, int, asyncio.Future[int]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def count(self, name: str, ttl: int) -> int:
        """Count one hit under ``name`` (a window that expires ``ttl`` seconds after its
        first hit); the count after it."""
        counted: asyncio.Future[int] = self.loop.create_future()
        self._waiting.append((name, ttl, counted))
        if self._sender is None:
            self._sender = self.loop.create_task(self._send())
        return await counted

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:BATCH_LIMIT]
                del self._waiting[:BATCH_LIMIT]
                try:
                    counts = await self._counted([name for name, _, _ in batch], batch)
                except (OSError, EOFError, TimeoutError, RedisReplyError, ValueError) as error:
                    await self.close()
                    for _, _, counted in batch:
                        if not counted.done():
                            counted.set_exception(error)
                    continue
                for (_, _, counted), count in zip(batch, counts, strict=True):
                    if not counted.done():  # its request may have gone meanwhile
                        counted.set_result(int(count))
        finally:
            self._sender = None

    async def _counted(
        self, names: list[str], batch: list[tuple[str, int, asyncio.Future[int]]]
    ) -> list[int]:
        ttls = [ttl for _, ttl, _ in batch]
        for attempt in (1, 2):
            fresh = self._connection is None
            try:
                async with asyncio.timeout(self._timeout):
                    if self._connection is None:
                        self._connection = await RespConnection.open(self._url)
                async with asyncio.timeout(self._timeout):
                    counts: list[int] = await self._run(self._connection, names, ttls)
                return counts
            except (OSError, ConnectionResetError, asyncio.IncompleteReadError):
                await self.close()
                if fresh or attempt == 2:
                    raise
            except TimeoutError:
                await self.close()
                raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _run(connection: RespConnection, names: list[str], ttls: list[int]) -> Any:
        try:
            return await connection.call("EVALSHA", _COUNT_HITS_SHA, len(names), *names, *ttls)
        except RedisReplyError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            # The first batch after Redis started: EVAL caches the script under its hash.
            return await connection.call("EVAL", COUNT_HITS, len(names), *names, *ttls)
