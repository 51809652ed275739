"""The validation fast path (docs/adr/0003): same answers, a reused license file, the
hourly last-seen write, and the signed body built from pre-encoded parts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing.signing import canonical_json, canonical_json_with
from licensor.models import Activation
from licensor.ratelimit import MemoryRateLimiter
from tests.licensing.factories import device
from tests.support import serve

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(), json_values, max_size=6), st.text(), json_values)
def test_a_body_spliced_with_a_pre_encoded_part_is_the_canonical_body(
    body: dict[str, Any], name: str, part: Any
) -> None:
    body.pop(name, None)
    spliced = canonical_json_with(body, name, canonical_json(part))
    assert spliced == canonical_json({**body, name: part})


def _activate(api: httpx.Client, code: str) -> tuple[str, str]:
    laptop = device()
    response = api.post("/api/v1/activations", json={"activation_code": code, "device": laptop})
    assert response.status_code == 201, response.text
    return response.json()["license_key"], laptop["fingerprint"]


def _validate(client: httpx.Client, key: str, fingerprint: str, nonce: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/licenses/validate",
        json={"license_key": key, "fingerprint": fingerprint, "nonce": nonce},
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_the_license_file_is_reused_for_an_hour_then_signed_afresh(
    api: httpx.Client, make_code: Any, clock: Clock
) -> None:
    key, fingerprint = _activate(api, make_code())
    first = _validate(api, key, fingerprint, "n-1")["license_file"]
    clock.advance(timedelta(minutes=30))
    again = _validate(api, key, fingerprint, "n-2")
    assert again["license_file"] == first, "the same file, within the refresh interval"
    assert again["issued_at"] != first["payload"]["issued_at"], "the answer itself is fresh"
    clock.advance(timedelta(minutes=31))
    later = _validate(api, key, fingerprint, "n-3")["license_file"]
    assert later["payload"]["issued_at"] != first["payload"]["issued_at"]
    assert later["payload"]["valid_until"] > first["payload"]["valid_until"]


def test_the_seat_is_marked_seen_at_most_every_interval(
    api: httpx.Client, make_code: Any, clock: Clock, database: Database
) -> None:
    key, fingerprint = _activate(api, make_code())

    def last_seen() -> Any:
        with database.transaction() as session:
            return session.scalars(select(Activation.last_validated_at)).one()

    activated_at = last_seen()
    clock.advance(timedelta(minutes=10))
    _validate(api, key, fingerprint, "a")
    assert last_seen() == activated_at
    clock.advance(timedelta(minutes=55))
    _validate(api, key, fingerprint, "b")
    assert last_seen() == clock.now()


def test_the_documented_route_gives_the_same_answers_as_the_fast_path(
    api: httpx.Client,
    make_code: Any,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
) -> None:
    key, fingerprint = _activate(api, make_code())
    app = create_app(
        settings, database=database, keyring=keyring, limiter=MemoryRateLimiter(), app_clock=clock
    )
    # Without the shortcut, FastAPI's own route answers.
    plain = FastAPI.__call__
    app.__class__ = type("PlainApp", (FastAPI,), {"__call__": plain})
    cases = [(key, fingerprint), (key, "another-device"), ("0" * 32, fingerprint)]
    with serve(app) as url, httpx.Client(base_url=url) as documented:
        for case_key, case_fingerprint in cases:
            fast = _validate(api, case_key, case_fingerprint, "same")
            slow = _validate(documented, case_key, case_fingerprint, "same")
            for answer in (fast, slow):
                answer.pop("signature")
            assert json.dumps(fast, sort_keys=True) == json.dumps(slow, sort_keys=True)


def _own_app(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock, **changes: Any
) -> FastAPI:
    return create_app(
        settings.model_copy(update=changes),
        database=database,
        keyring=keyring,
        limiter=MemoryRateLimiter(),
        app_clock=clock,
    )


def test_reads_from_the_thread_pool_give_the_same_answers(
    api: httpx.Client,
    make_code: Any,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
) -> None:
    key, fingerprint = _activate(api, make_code())
    app = _own_app(settings, database, keyring, clock, validation_reads="pool")
    with serve(app) as url, httpx.Client(base_url=url) as pooled:
        for case_fingerprint in (fingerprint, "another-device"):
            inline = _validate(api, key, case_fingerprint, "same")
            other = _validate(pooled, key, case_fingerprint, "same")
            inline.pop("signature")
            other.pop("signature")
            assert inline == other


@pytest.mark.postgres_only
def test_validation_survives_the_database_dropping_its_connection(
    api: httpx.Client, make_code: Any, database: Database
) -> None:
    key, fingerprint = _activate(api, make_code())
    assert _validate(api, key, fingerprint, "before")["valid"] is True
    with database.engine.connect() as connection:
        ended = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state = 'idle'"
            )
        ).scalar_one()
        connection.commit()
    assert ended >= 1
    assert _validate(api, key, fingerprint, "after")["valid"] is True
