"""A server of its own with tight rate limits, for the tests that count requests; and a
real redis-server on loopback, for the limits processes share.

Registered in ``tests/conftest.py`` (``pytest_plugins``), so ``limited_server`` reaches
every test directory.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.ratelimit import MemoryRateLimiter
from tests.support import free_port, serve


@dataclass
class LimiterTime:
    """The rate limiter's clock, held still so a window cannot end mid-test."""

    now: float = 60.0 * 28_000_000 + 15  # 15 s into a minute: 45 s left in the window

    def __call__(self) -> float:
        return self.now


@dataclass
class LimitedServer:
    url: str
    api: httpx.Client  # a client of the limited server, closed with it
    limiter_time: LimiterTime  # move ``now`` on to end a window


StartLimitedServer = Callable[..., AbstractContextManager[LimitedServer]]


@pytest.fixture
def limited_server(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock
) -> StartLimitedServer:
    """Start a server of its own with the given rates, e.g. ``activation_rate="3/minute"``."""

    @contextmanager
    def start(**rates: str) -> Iterator[LimitedServer]:
        limiter_time = LimiterTime()
        app = create_app(
            settings.model_copy(update=rates),
            database=database,
            keyring=keyring,
            limiter=MemoryRateLimiter(now=limiter_time),
            app_clock=clock,
        )
        with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield LimitedServer(url, client, limiter_time)

    return start


class RedisServer:
    """A redis-server on a free loopback port, its files in ``workdir``, until ``stop()``."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian package redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis  # the `redis` extra: needed only where a test starts a server

        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
