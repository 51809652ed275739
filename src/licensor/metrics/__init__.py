"""Prometheus metrics at ``GET /metrics`` (SPEC "operations"; docs/monitoring.md).

Two kinds of figures, kept apart because they add up differently across processes:

* what a process counts as it works (request latencies, activations, validations, its
  pool's connections): prometheus-client's metrics, kept in memory by one process and,
  under ``licensor serve --workers N``, in files of a private directory that every
  process writes and any of them reads whole (multiprocess mode: ``licensor serve`` sets
  ``PROMETHEUS_MULTIPROC_DIR`` before uvicorn starts its processes);
* what the database says (outbox depth and age, job lag, recoveries): read when scraped,
  the same from every process and every host.

Labels are bounded: a route's template, never its raw path; an HTTP method from a known
set; a status class; an outcome or a status from our own stable names. No code, key,
email or address ever becomes a label value.

The endpoint answers only clients in ``LICENSOR_METRICS_ALLOW``, judged on the address
the ASGI scope names: the socket's peer, or the forwarded client when
``--forwarded-allow-ips`` trusts the proxy (uvicorn rewrites the scope then). Anyone else
gets the answer of a path that does not exist.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from licensor.clock import Clock
from licensor.db import Database
from licensor.errors import LicensorError
from licensor.metrics.database import DatabaseFigures

METRICS_PATH = "/metrics"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Latencies from the fast validation path's milliseconds to a card batch page's seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
FLUSH_SECONDS = 1.0  # how stale a process's latencies may be, at most
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = {status: f"{status // 100}xx" for status in range(100, 600)}

REQUEST_SECONDS = Histogram(
    "licensor_http_request_duration_seconds",
    "Time to answer a request, by method, route template and status class.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
ACTIVATIONS = Counter(
    "licensor_activations",
    "Activation requests that reached the service, by outcome: activated, or the problem's "
    "stable code.",
    ["outcome"],
)
VALIDATIONS = Counter(
    "licensor_validations",
    "Online validation answers, by the status they gave.",
    ["status"],
)
# One value per process, summed over the live ones; a process gone takes its values along.
POOL_IN_USE = Gauge(
    "licensor_db_pool_connections_in_use",
    "Database connections checked out of the pools.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "licensor_db_pool_size",
    "Connections the pools keep open.",
    multiprocess_mode="livesum",
)
POOL_MAX = Gauge(
    "licensor_db_pool_max_connections",
    "Connections the pools may open at most (size and overflow).",
    multiprocess_mode="livesum",
)


def multiprocess() -> bool:
    """Whether this process keeps its figures in the shared directory's files: decided by
    prometheus-client when it was first imported, from the environment then."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def multiprocess_directory(var_dir: Path) -> Path:
    """A fresh private directory for this server's processes' figures, under
    ``var/metrics/``: ``serve-<pid>``, emptied if it was left behind, beside which the
    directories of servers no longer running are removed. Each server on a host keeps its
    own, so two servers sharing a ``var/`` never mix or erase each other's figures."""
    base = var_dir / "metrics"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    for child in base.iterdir():
        pid = child.name.removeprefix("serve-")
        if child.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(child, ignore_errors=True)
    fresh = base / f"serve-{os.getpid()}"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(mode=0o700)
    return fresh


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def allowed_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``LICENSOR_METRICS_ALLOW``: comma-separated addresses or CIDR networks."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    )


_watched: weakref.WeakSet[Engine] = weakref.WeakSet()


def watch_pool(engine: Engine) -> None:
    """Keep this process's pool figures as connections are checked out and back in."""
    if engine in _watched:  # apps sharing a database (tests) count its pool once
        return
    _watched.add(engine)
    pool = engine.pool
    size = getattr(pool, "size", None)
    if callable(size):
        POOL_SIZE.set(size())
        # QueuePool keeps its overflow private; negative means no bound.
        overflow = getattr(pool, "_max_overflow", 0)
        if overflow >= 0:
            POOL_MAX.set(size() + overflow)

    def taken(*_: Any) -> None:
        POOL_IN_USE.inc()

    def returned(*_: Any) -> None:
        POOL_IN_USE.dec()

    event.listen(engine, "checkout", taken)
    event.listen(engine, "checkin", returned)
    # A connection detached for the validator's own use (Database.own_connection) leaves
    # the pool without a checkin.
    event.listen(engine, "detach", returned)


@contextmanager
def activation_counted() -> Iterator[None]:
    """Count an activation by its outcome: ``activated``, or the problem's code."""
    try:
        yield
    except LicensorError as error:
        ACTIVATIONS.labels(error.code).inc()
        raise
    except Exception:
        ACTIVATIONS.labels("internal_error").inc()
        raise
    ACTIVATIONS.labels("activated").inc()


class RequestTimer:
    """The outermost ASGI layer: each request's time, labelled by the route that answered
    it (its template, which the router leaves in the scope), ``fixed`` paths answered
    before the router (the validation fast path, /metrics), ``/static`` or ``unmatched``.

    Its cost is two clock reads, a wrapped ``send`` and two additions: the times are
    counted in plain lists on the event loop and handed to the histogram (a lock and, with
    several processes, a file write per value) once a second and before each scrape."""

    def __init__(self, app: ASGIApp, fixed: Iterable[str]) -> None:
        self.app = app
        self.fixed = frozenset(fixed)
        # Per label set: the sum of the times, then a count per bucket (+Inf last).
        self._pending: dict[tuple[str, str, str], list[float]] = {}
        self._flush_scheduled = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # nothing sent: the server answers 500 for us

        async def timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            self._observe(scope, status, perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        path: str = scope["path"]
        template = getattr(route, "path", None)
        if template is None:
            if path in self.fixed:
                template = path
            elif path.startswith("/static/"):
                template = "/static"
            else:
                template = "unmatched"
        method = scope["method"] if scope["method"] in METHODS else "other"
        key = (method, template, STATUS_CLASSES.get(status, "other"))
        counts = self._pending.get(key)
        if counts is None:
            counts = self._pending[key] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        counts[0] += seconds
        counts[1 + bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: upper bounds included
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Hand the times counted so far to the histogram (on the event loop's thread)."""
        self._flush_scheduled = False
        pending, self._pending = self._pending, {}
        for key, counts in pending.items():
            # The histogram has no public call for many observations at once: its sum
            # and bucket values take them, as its own observe() does one at a time.
            child: Any = REQUEST_SECONDS.labels(*key)
            child._sum.inc(counts[0])
            for index, count in enumerate(counts[1:]):
                if count:
                    child._buckets[index].inc(count)


class MetricsEndpoint:
    """``GET /metrics`` for allowed clients; for anyone else, what the app answers to a
    path it does not know (``not_found``: the app's router, where no route has it)."""

    def __init__(
        self,
        allowed_text: str,
        database: Database,
        clock: Clock,
        not_found: ASGIApp,
        before_scrape: Callable[[], None] = lambda: None,
    ) -> None:
        self.allowed = allowed_networks(allowed_text)
        self.not_found = not_found
        self.figures = DatabaseFigures(database, clock)
        self.before_scrape = before_scrape

    def allows(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:  # a Unix socket's peer, or no address at all
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.allows(scope):
            await self.not_found(scope, receive, send)
            return
        response: Response
        if scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"}
            )
        else:
            self.before_scrape()  # this process's latencies counted so far, up to now
            body = await run_in_threadpool(self.render)
            response = Response(body, media_type=CONTENT_TYPE_LATEST)
        await response(scope, receive, send)

    def render(self) -> bytes:
        """Prometheus text: this process's figures (or every live process's, under
        multiprocess mode), then the database's."""
        if multiprocess():
            directory = os.environ[MULTIPROCESS_DIR]
            _forget_dead_processes(directory)
            registry = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return generate_latest(_Joined(registry, self.figures))
        return generate_latest(_Joined(REGISTRY, self.figures))


def _forget_dead_processes(directory: str) -> None:
    """Drop the live-only gauges of processes that are gone (uvicorn restarts a worker
    that dies; its pool no longer exists). Counters stay: what was counted happened."""
    pids: set[int] = set()
    for name in os.listdir(directory):
        if name.startswith("gauge_live") and name.endswith(".db"):
            number = name.rsplit("_", 1)[-1].removesuffix(".db")
            if number.isdigit():
                pids.add(int(number))
    for pid in pids:
        if not _alive(pid):
            mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


class _Joined(Collector):
    def __init__(self, *sources: Collector) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        for source in self.sources:
            yield from source.collect()
