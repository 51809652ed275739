"""The validation fast path (docs/adr/0003): the documented route's answers, whichever
path answers (LICENSOR_VALIDATION_FAST_PATH=off: the documented route alone); a reused
license file; the hourly last-seen write, behind the answers and never holding one up;
and the signed body built from pre-encoded parts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import OperationalError

from licensor.api import LicensorApp, create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing.endpoints import VALIDATE_PATH
from licensor.licensing.last_seen import LastSeenWriter
from licensor.licensing.signing import canonical_json, canonical_json_with
from licensor.models import Activation
from licensor.ratelimit import MemoryRateLimiter
from tests.licensing.factories import (
    answer_verifies,
    device,
    license_file_verifies,
    signing_keys,
)
from tests.limits import StartLimitedServer
from tests.support import assert_problem, serve

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


@pytest.fixture(autouse=True)
def _no_last_seen_write_pending() -> Iterator[None]:
    """Between tests, no last-seen write is left to land: rows' ids start again after
    each test, so a late write would mark the next test's seat."""
    _writers_done()
    yield
    _writers_done()


def _writers_done() -> None:
    assert _eventually(
        lambda: not any(thread.name == "licensor-last-seen" for thread in threading.enumerate())
    )


def _last_seen(database: Database) -> datetime:
    with database.transaction() as session:
        seen: datetime = session.scalars(select(Activation.last_validated_at)).one()
        return seen


def _eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    """Whether ``check`` comes true within ``seconds`` (last-seen times are written behind
    the answers, within about a second)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_seat_is_marked_seen_at_most_every_interval(
    api: httpx.Client, make_code: Any, clock: Clock, database: Database
) -> None:
    key, fingerprint = _activate(api, make_code())
    activated_at = _last_seen(database)
    clock.advance(timedelta(minutes=10))
    _validate(api, key, fingerprint, "a")
    clock.advance(timedelta(minutes=55))
    seen_at = clock.now()
    _validate(api, key, fingerprint, "b")

    # Had "a" been written, "b" would have been within the hour of it, and not written.
    assert _eventually(lambda: _last_seen(database) != activated_at)
    assert seen_at <= _last_seen(database) <= clock.now()


@contextmanager
def _write_lock_held(database: Database) -> Iterator[Connection]:
    """Every seat row locked by another connection, as a long transaction would hold them:
    on SQLite the database's one write lock (BEGIN IMMEDIATE), on PostgreSQL row locks.
    The connection reads what is committed (every other transaction would wait)."""
    with database.engine.connect() as connection:
        connection.execute(select(Activation.id).with_for_update()).all()
        yield connection
        connection.rollback()


def test_a_last_seen_write_waiting_for_a_lock_holds_up_no_answer(
    api: httpx.Client, make_code: Any, clock: Clock, database: Database
) -> None:
    key, fingerprint = _activate(api, make_code())
    clock.advance(timedelta(hours=2))  # the seat is due a last-seen write
    seen_at = clock.now()
    with _write_lock_held(database) as connection:
        started = time.monotonic()
        for nonce in ("first", "second", "third"):
            assert _validate(api, key, fingerprint, nonce)["valid"] is True
        assert api.get("/healthz").status_code == 200
        # The write waits for the lock (up to 30 s on SQLite); the answers did not.
        assert time.monotonic() - started < 5
        assert connection.execute(select(Activation.last_validated_at)).scalar_one() < seen_at

    assert _eventually(lambda: _last_seen(database) >= seen_at)


class _FailingOnce:
    """A database whose first transaction fails, as one away for a moment would."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.failed = False

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        if not self.failed:
            self.failed = True
            raise OperationalError("UPDATE activations", {}, Exception("the database is away"))
        with self.database.transaction() as session:
            yield session


def test_a_last_seen_write_that_fails_is_tried_again(
    api: httpx.Client, make_code: Any, clock: Clock, database: Database
) -> None:
    _activate(api, make_code())
    seat_id = _seat_id(database)
    flaky = _FailingOnce(database)
    writer = LastSeenWriter(cast(Database, flaky), delay=0.05)
    seen_at = clock.now() + timedelta(hours=1)

    writer.note(seat_id, seen_at)
    writer.note(seat_id, seen_at + timedelta(minutes=1))  # within the interval: the first counts

    assert _eventually(lambda: _last_seen(database) == seen_at)
    assert flaky.failed
    writer.close()


def _seat_id(database: Database) -> int:
    with database.transaction() as session:
        seat_id: int = session.scalars(select(Activation.id)).one()
        return seat_id


# --- the fast path and the documented route give the same answers --------------------------


@pytest.fixture
def documented(
    settings: Settings, database: Database, keyring: Keyring, clock: Clock
) -> Iterator[httpx.Client]:
    """A server answering validation through the documented FastAPI route alone."""
    app = _own_app(settings, database, keyring, clock, validation_fast_path="off")
    assert isinstance(app, LicensorApp)
    assert app.fast_validation is None
    with serve(app) as url, httpx.Client(base_url=url) as client:
        yield client


def _comparable(response: httpx.Response, keys: dict[str, Any]) -> dict[str, Any]:
    """What must be equal in two answers: all but the times and the signatures over them
    (each verified here), which differ when the answers fall in different seconds."""
    headers = {
        name: response.headers.get(name)
        for name in ("content-type", "retry-after", "cache-control", "x-content-type-options")
    }
    body = response.json()
    if response.status_code == 200:
        assert answer_verifies(response.content, keys)
        body.pop("signature")
        body.pop("issued_at")
        license_file = body.get("license_file")
        if license_file is not None:
            assert license_file_verifies(license_file, keys)
            license_file.pop("signature")
            license_file["payload"].pop("issued_at")
            license_file["payload"].pop("valid_until")
    return {"status": response.status_code, "headers": headers, "body": body}


def _validation(key: str, fingerprint: str, nonce: str = "same") -> bytes:
    return json.dumps({"license_key": key, "fingerprint": fingerprint, "nonce": nonce}).encode()


def test_the_documented_route_gives_the_same_answers_as_the_fast_path(
    api: httpx.Client,
    documented: httpx.Client,
    make_code: Any,
    block_code: Any,
    clock: Clock,
) -> None:
    active_key, laptop = _activate(api, make_code())
    released_key, released = _activate(api, make_code())
    response = api.post(
        "/api/v1/activations/release", json={"license_key": released_key, "fingerprint": released}
    )
    assert response.status_code == 200, response.text
    blocked_code = make_code()
    blocked_key, blocked = _activate(api, blocked_code)
    block_code(blocked_code, "chargeback")
    expired_key, expired = _activate(api, make_code("month", term_days=30))
    clock.advance(timedelta(days=31))
    cases = {
        "active": (active_key, laptop),
        "not activated": (active_key, device()["fingerprint"]),
        "released": (released_key, released),
        "blocked": (blocked_key, blocked),
        "expired": (expired_key, expired),
        "unknown": ("0" * 32, laptop),
        "not a key": ("hello", laptop),
    }
    keys = signing_keys(api)
    statuses = set()
    for name, (key, fingerprint) in cases.items():
        body = _validation(key, fingerprint)
        headers = {"content-type": "application/json"}
        fast = api.post(VALIDATE_PATH, content=body, headers=headers)
        slow = documented.post(VALIDATE_PATH, content=body, headers=headers)
        assert _comparable(fast, keys) == _comparable(slow, keys), name
        statuses.add(fast.json()["status"])
    assert statuses == {"active", "not_activated", "released", "blocked", "expired", "unknown"}


# Bodies and content types: the fast path takes JSON of the right shape, sent as
# application/json; every other request is the documented route's to answer, so the two
# must agree on each of these: 422 validation_failed for a body of the wrong shape, 415
# unsupported_media_type for a body declared as another type than JSON, 200 where FastAPI
# reads JSON of the right shape.
_VALID = {"license_key": "0" * 32, "fingerprint": "f" * 32, "nonce": "n"}
_JSON_TYPE = "application/json"
# A body without a type: read as JSON by FastAPI before 0.132 (200), not since (422);
# never a 415, which the SDK and scripts that send no type would not expect.
_AS_FASTAPI_READS_IT = (200, 422)
# Each case: the body, its Content-Type, the status both paths answer.
_REQUESTS: dict[str, tuple[bytes, str | None, int | tuple[int, ...]]] = {
    "no license key": (json.dumps({"fingerprint": "f" * 32}).encode(), _JSON_TYPE, 422),
    "empty fingerprint": (json.dumps({**_VALID, "fingerprint": ""}).encode(), _JSON_TYPE, 422),
    "long nonce": (json.dumps({**_VALID, "nonce": "n" * 129}).encode(), _JSON_TYPE, 422),
    "unknown field": (json.dumps({**_VALID, "extra": 1}).encode(), _JSON_TYPE, 422),
    "a number for a key": (json.dumps({**_VALID, "license_key": 5}).encode(), _JSON_TYPE, 422),
    "an array": (b"[]", _JSON_TYPE, 422),
    "null": (b"null", _JSON_TYPE, 422),
    "broken JSON": (b'{"license_key": ', _JSON_TYPE, 422),
    "empty body": (b"", _JSON_TYPE, 422),
    "a lone surrogate": (
        b'{"license_key": "a", "fingerprint": "f", "nonce": "\\ud800"}',
        _JSON_TYPE,
        422,
    ),
    "NaN": (b'{"license_key": "a", "fingerprint": "f", "nonce": NaN}', _JSON_TYPE, 422),
    "a byte order mark": (b"\xef\xbb\xbf" + json.dumps(_VALID).encode(), _JSON_TYPE, 200),
    "text/plain": (json.dumps(_VALID).encode(), "text/plain", 415),
    "a form": (b"license_key=0&fingerprint=f", "application/x-www-form-urlencoded", 415),
    "XML": (b"<validate><license_key>0</license_key></validate>", "application/xml", 415),
    "multipart": (b"--x\r\n\r\n--x--\r\n", "multipart/form-data; boundary=x", 415),
    "an empty text/plain body": (b"", "text/plain", 415),
    "no content type": (json.dumps(_VALID).encode(), None, _AS_FASTAPI_READS_IT),
    "a charset": (json.dumps(_VALID).encode(), "application/json; charset=utf-8", 200),
    "upper case": (json.dumps(_VALID).encode(), "Application/JSON", 200),
    "a +json type": (json.dumps(_VALID).encode(), "application/vnd.licensor+json", 200),
}
_CODES = {415: "unsupported_media_type", 422: "validation_failed"}


@pytest.mark.parametrize("case", list(_REQUESTS))
def test_a_request_the_fast_path_does_not_take_gets_the_documented_answer(
    api: httpx.Client, documented: httpx.Client, case: str
) -> None:
    body, content_type, expected = _REQUESTS[case]
    headers = {"content-type": content_type} if content_type else {}
    fast = api.post(VALIDATE_PATH, content=body, headers=headers)
    slow = documented.post(VALIDATE_PATH, content=body, headers=headers)

    for answer in (fast, slow):
        if isinstance(expected, tuple):
            assert answer.status_code in expected, answer.text
        elif expected == 200:
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == "application/json"
        else:
            assert_problem(answer, expected, _CODES[expected])
    keys = signing_keys(api)
    assert _comparable(fast, keys) == _comparable(slow, keys)


def test_both_paths_count_and_refuse_alike(
    limited_server: StartLimitedServer, make_code: Any
) -> None:
    key, fingerprint = "0" * 32, device()["fingerprint"]
    json_type = {"content-type": "application/json"}
    sequence = [
        (_validation(key, fingerprint), json_type),
        (b'{"license_key": ', json_type),  # refused before any count, as FastAPI does
        (_validation(key, fingerprint), {"content-type": "text/plain"}),  # counted, then 415
        (_validation(key, fingerprint), json_type),
        (_validation(key, fingerprint), json_type),  # the fourth counted: 429
        (b"[]", json_type),  # the limit is checked before the shape
    ]
    answers = []
    for fast_path in ("on", "off"):
        with limited_server(validation_rate="3/minute", validation_fast_path=fast_path) as server:
            keys = signing_keys(server.api)
            answers.append(
                [
                    _comparable(server.api.post(VALIDATE_PATH, content=body, headers=headers), keys)
                    for body, headers in sequence
                ]
            )

    fast, documented_answers = answers
    assert [answer["status"] for answer in fast] == [200, 422, 415, 200, 429, 429]
    assert fast[2]["body"]["code"] == "unsupported_media_type"
    assert fast[2]["headers"]["content-type"] == "application/problem+json"
    assert fast[4]["headers"]["retry-after"] == "45"
    assert fast[4]["body"]["code"] == "rate_limited"
    assert fast == documented_answers


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
