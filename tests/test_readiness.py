"""``GET /readyz`` (SPEC "operations"): 200 when the database, Redis (when set) and the keys
are usable, else 503, with each check in the body; mail without SMTP is said, not fatal.
``/healthz`` stays 200 while the process lives."""

from __future__ import annotations

from pathlib import Path

import httpx

from licensor.api import create_app
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring, load_keyring
from tests.licensing.factories import MakeCode
from tests.support import free_port, serve


def test_a_server_with_its_database_and_keys_is_ready_and_says_mail_waits_without_smtp(
    api: httpx.Client,
) -> None:
    answer = api.get("/readyz")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["keys"] == "ok"
    assert body["checks"]["redis"] == "not configured"
    assert body["checks"]["mail"] == "outbox only: LICENSOR_SMTP_URL is unset"


def _readiness_of(settings: Settings, keyring: Keyring) -> tuple[httpx.Response, httpx.Response]:
    app = create_app(settings, keyring=keyring)
    try:
        with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            return client.get("/readyz"), client.get("/healthz")
    finally:
        app.state.db.dispose()


def test_a_server_whose_database_is_unreachable_is_not_ready(
    settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    closed_port = settings.model_copy(
        update={"database_url": f"postgresql+psycopg://licensor:x@127.0.0.1:{free_port()}/licensor"}
    )
    missing_file = settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'nowhere' / 'licensor.db'}"}
    )
    for broken in (closed_port, missing_file):
        ready, health = _readiness_of(broken, keyring)

        assert ready.status_code == 503, ready.text
        body = ready.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"].startswith("unavailable")
        assert health.status_code == 200  # alive, just not ready


def test_a_server_whose_keys_do_not_match_the_database_is_not_ready(
    settings: Settings, database: Database, make_code: MakeCode, tmp_path: Path
) -> None:
    make_code()  # a code encrypted under the real keys
    other_keys = load_keyring(Settings(var_dir=tmp_path, _env_file=None))
    ready, _ = _readiness_of(settings, other_keys)  # a database object of its own

    assert ready.status_code == 503, ready.text
    assert ready.json()["checks"]["keys"].startswith("do not match the database")
    assert ready.json()["checks"]["database"] == "ok"


def test_an_smtp_url_that_cannot_be_used_makes_a_server_not_ready_and_says_so(
    settings: Settings, keyring: Keyring
) -> None:
    for unusable in ("mail.example.com:25", "smtp://mail.example.com:99999", "http://mail"):
        ready, health = _readiness_of(settings.model_copy(update={"smtp_url": unusable}), keyring)

        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["mail"].startswith("LICENSOR_SMTP_URL cannot be used")
        assert ready.json()["checks"]["database"] == "ok"
        assert health.status_code == 200
    usable = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"})
    ready, _ = _readiness_of(usable, keyring)  # configured: mail waits while it is away
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["mail"] == "smtp"
