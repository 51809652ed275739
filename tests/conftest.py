"""Shared fixtures. Every test that touches the database runs on SQLite by default and on
PostgreSQL when ``LICENSOR_TEST_DATABASE_URL`` is set (``make test`` runs both).

The app under test is served by a real uvicorn server on loopback; tests talk to it
with httpx, as a device or browser would. Rows are deleted after each test, because the
server commits real transactions (the concurrency tests depend on that).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from licensor import units
from licensor.accounts import passwords
from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring, load_keyring
from licensor.mail.sender import SmtpSender
from licensor.migrate import upgrade
from licensor.ratelimit import MemoryRateLimiter
from licensor.worker import build_worker
from tests.mail_support import SmtpServer
from tests.support import empty_tables, free_port, serve

# Factories, one fixtures module per domain, offered to every test directory. Their plain
# helpers (``device()``, ``activate()``, ``link()``...) are imported from the modules.
pytest_plugins = [
    "tests.licensing.factories",
    "tests.accounts.factories",
    "tests.store.factories",
    "tests.support.factories",
    "tests.limits",
]

TEST_DATABASE_URL = os.environ.get("LICENSOR_TEST_DATABASE_URL")
# Under pytest-xdist (``make test`` runs several workers), each worker has a PostgreSQL
# database of its own beside the one scripts/with-postgres.sh made; SQLite files live in
# each worker's own temporary directory anyway.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_database(url: str) -> str:
    """The URL of this worker's own database on the server of ``url`` (made empty)."""
    if not XDIST_WORKER:
        return url
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{XDIST_WORKER}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def pytest_report_header() -> str:
    return f"database: {'PostgreSQL' if TEST_DATABASE_URL else 'SQLite'}"


# A test reaches a database through these fixtures (``server``, ``api``, ``open_unit`` and
# the factories stand on them), or names the PostgreSQL server itself.
DATABASE_FIXTURES = frozenset({"database", "settings"})
_NAMES_THE_SERVER = "LICENSOR_TEST_DATABASE_URL"


def touches_database(item: pytest.Item) -> bool:
    """Whether a test reaches a database: the PostgreSQL run repeats only those (the SDK's
    offline checks, the reference app's windows, the OCR of a picture and the like give
    the same answer whatever the server's database)."""
    if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    if "postgres_only" in item.keywords:
        return True
    module = getattr(item, "module", None)
    return bool(module and module.__file__ and _names_the_server(module.__file__))


@functools.cache
def _names_the_server(path: str) -> bool:
    source = Path(path).read_text()
    return _NAMES_THE_SERVER in source or "TEST_DATABASE_URL" in source


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DATABASE_URL:
        elsewhere = [item for item in items if not touches_database(item)]
        if elsewhere:
            config.hook.pytest_deselected(items=elsewhere)
            items[:] = [item for item in items if touches_database(item)]
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (LICENSOR_TEST_DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def server_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def settings(var_dir: Path, server_port: int) -> Settings:
    return Settings(
        var_dir=var_dir,
        base_url=f"http://127.0.0.1:{server_port}",  # links in mail lead to the test server
        database_url=(
            _worker_database(TEST_DATABASE_URL)
            if TEST_DATABASE_URL
            else f"sqlite:///{var_dir / 'test.db'}"
        ),
        # The test server's keys, made in var_dir on PostgreSQL as on SQLite (where a
        # deployment would run `licensor keys create`): the CLI's tests read them there.
        create_keys=True,
        rate_limits="on",
        # Counted per address, and every test of a worker calls from 127.0.0.1: the app's
        # tests alone make over a thousand validation-rule calls in a busy minute (each
        # start checks the license and asks for a floating seat).
        activation_rate="5000/minute",
        validation_rate="5000/minute",
        signin_rate="1000/minute",
        signup_rate="1000/minute",
        reset_rate="1000/minute",
        link_rate="1000/minute",
        lookup_rate="1000/minute",
        support_rate="1000/minute",
        partner_rate="1000/minute",
        # The merchant-of-record stores' webhooks (tests/store/test_fulfilment.py).
        paddle_webhook_secret="pdl_ntfset_test_secret",
        lemonsqueezy_webhook_secret="ls-test-signing-secret",
        fastspring_webhook_secret="fs-test-hmac-secret",
        fastspring_license_key="fs-test-license-private-key",
        fulfilment_products=(
            "paddle:pri_01hstandard=standard,paddle:pri_01hplus=plus,"
            "lemonsqueezy:424242=standard,fastspring:suite-1y=standard"
        ),
        log_level="WARNING",
        _env_file=None,
    )


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade(settings)
    yield db
    db.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "database" in request.fixturenames:
        empty_tables(request.getfixturevalue("database").engine)


# Argon2id at RFC 9106's low-memory parameters costs 0.2 s of CPU a hash: half of what the
# tests that sign in spend. They hash with the same algorithm at a low cost (the stored
# parameters say which, so a hash made either way verifies); tests marked
# ``real_password_cost`` (the stored parameters, timings that must hide an unknown email)
# keep production's.
TEST_PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=4 * 1024, parallelism=1)


@pytest.fixture(autouse=True)
def _password_cost(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    if request.node.get_closest_marker("real_password_cost") is None:
        monkeypatch.setattr(passwords, "_hasher", TEST_PASSWORD_HASHER)
    passwords._dummy_hash.cache_clear()  # an unknown email costs what the hasher costs
    yield
    passwords._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def keyring(settings: Settings) -> Keyring:
    return load_keyring(settings)


@pytest.fixture(scope="session")
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _reset_clock(clock: Clock) -> Iterator[None]:
    yield
    clock.offset = clock.offset * 0


# ``with open_unit() as unit:`` (or ``open_unit(actor="admin@example.com")``).
OpenUnit = Callable[..., AbstractContextManager[units.UnitOfWork]]


@pytest.fixture
def open_unit(database: Database, keyring: Keyring, settings: Settings, clock: Clock) -> OpenUnit:
    """Open a unit of work on the test database as a command or a job opens one: in a
    transaction of its own (committed when the block ends, rolled back if it raises), with
    the server's keys and settings, at the test clock's moment when it opens."""

    def open_test_unit(*, actor: str = "system") -> AbstractContextManager[units.UnitOfWork]:
        return units.open_unit(database, keyring, settings, clock.now(), actor=actor)

    return open_test_unit


@pytest.fixture(scope="session")
def limiter() -> MemoryRateLimiter:
    return MemoryRateLimiter()


@pytest.fixture(autouse=True)
def _reset_limiter(limiter: MemoryRateLimiter) -> Iterator[None]:
    yield
    limiter.reset()


@pytest.fixture(scope="session")
def server(
    server_port: int,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    limiter: MemoryRateLimiter,
) -> Iterator[str]:
    app = create_app(settings, database=database, keyring=keyring, limiter=limiter, app_clock=clock)
    with serve(app, port=server_port) as url:
        yield url


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1; ``smtp.inbox`` holds what it received."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def run_jobs(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock
) -> Callable[[], None]:
    """``licensor worker --once`` without SMTP: the due background jobs, until none is
    left (the mail they write waits in the outbox)."""
    worker = build_worker(database, keyring, settings, clock.now)

    def run() -> None:
        worker.run_until_idle()

    return run


@pytest.fixture
def mail_worker(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock, smtp: SmtpServer
) -> Iterator[SmtpServer]:
    """``licensor worker`` running in a thread, sending the outbox to ``smtp`` and doing
    the background jobs (the license key read from a support screenshot)."""
    sender = SmtpSender(smtp.url, keyring, settings.mail_from, timeout=10)
    with build_worker(database, keyring, settings, clock.now, sender=sender).running(
        idle_seconds=0.1
    ):
        yield smtp


@pytest.fixture
def api(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as client:
        yield client
