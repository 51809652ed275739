"""Background jobs (licensor.jobs): written with the change that asks for them, claimed
under a lease, run outside any transaction, retried with backoff, given up after the
kind's last attempt; and the support desk's job that reads the license key from each
screenshot, run the way ``licensor worker`` runs it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from licensor import jobs
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import JobFailed
from licensor.keys import Keyring
from licensor.models import Attachment, Job, OcrStatus
from licensor.support.attachments import ocr_reading
from licensor.support.tasks import READ_KEY
from tests.accounts.factories import OpenBrowser
from tests.support.uploads import card_request, license_details_png, send

KIND = "test.record"
STALLED = "test.stalled"


@dataclass
class Recorder:
    runs: list[dict[str, Any]] = field(default_factory=list)  # payloads, run by run
    failures: list[str] = field(default_factory=list)  # what on_failure was told


@pytest.fixture
def ran() -> Iterator[Recorder]:
    """A job kind of the test's own, at most 3 attempts; ``fail: n`` in the payload makes
    its first n runs raise, ``permanent`` makes it raise JobFailed."""
    recorder = Recorder()

    def run(context: jobs.JobContext, payload: dict[str, Any]) -> None:
        # Its own transaction, locking the job rows: this would wait for ever if the
        # worker still held the claim's transaction.
        with context.database.transaction() as session:
            session.scalars(select(Job).where(Job.kind == KIND).with_for_update()).all()
        recorder.runs.append(payload)
        if payload.get("permanent"):
            raise JobFailed("bad input")
        if len(recorder.runs) <= payload.get("fail", 0):
            raise ConnectionError(f"attempt {len(recorder.runs)} failed")

    def failed(context: jobs.JobContext, payload: dict[str, Any], error: str) -> None:
        recorder.failures.append(error)

    jobs.handler(KIND, max_attempts=3, on_failure=failed)(run)
    yield recorder
    jobs.HANDLERS.pop(KIND, None)


def work(database: Database, keyring: Keyring, settings: Settings, clock: Clock) -> int:
    return jobs.run_once(database, keyring, settings, clock.now)


@dataclass
class Span:
    """The clock before and after a pass: what the pass wrote lies between (the clock has
    whole seconds, and may tick during the pass)."""

    start: datetime
    end: datetime

    def holds(self, moment: datetime | None, later: timedelta = timedelta()) -> bool:
        return moment is not None and self.start + later <= moment <= self.end + later


def timed_work(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock
) -> tuple[int, Span]:
    start = clock.now()
    count = work(database, keyring, settings, clock)
    return count, Span(start, clock.now())


def the_job(database: Database) -> Job:
    with database.transaction() as session:
        return session.scalars(select(Job).where(Job.kind == KIND)).one()


def test_a_job_exists_only_if_the_change_that_asked_for_it_committed(
    database: Database, clock: Clock
) -> None:
    def ask_then_crash() -> None:
        with database.transaction() as session:
            jobs.enqueue(session, clock.now(), KIND, n=1)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        ask_then_crash()
    with database.transaction() as session:
        assert session.scalars(select(Job)).all() == []


def test_a_due_job_is_run_once_and_marked_done(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    ran: Recorder,
) -> None:
    with database.transaction() as session:
        jobs.enqueue(session, clock.now(), KIND, n=7)

    count, span = timed_work(database, keyring, settings, clock)
    assert count == 1
    assert work(database, keyring, settings, clock) == 0

    assert ran.runs == [{"n": 7}]
    job = the_job(database)
    assert span.holds(job.done_at)
    assert job.attempts == 1
    assert job.last_error is None


def test_a_failing_job_is_retried_with_backoff_then_given_up(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    ran: Recorder,
) -> None:
    with database.transaction() as session:
        jobs.enqueue(session, clock.now(), KIND, fail=99)

    _, span = timed_work(database, keyring, settings, clock)
    job = the_job(database)
    assert job.attempts == 1
    assert job.done_at is None
    assert job.failed_at is None
    assert job.last_error == "ConnectionError: attempt 1 failed"
    assert span.holds(job.next_attempt_at, timedelta(seconds=30))
    assert work(database, keyring, settings, clock) == 0  # not due yet

    clock.advance(timedelta(seconds=30))
    _, span = timed_work(database, keyring, settings, clock)
    assert span.holds(the_job(database).next_attempt_at, timedelta(seconds=60))
    assert ran.failures == []

    clock.advance(timedelta(seconds=60))
    _, span = timed_work(database, keyring, settings, clock)
    job = the_job(database)
    assert job.attempts == 3
    assert span.holds(job.failed_at)
    assert ran.failures == ["ConnectionError: attempt 3 failed"]
    clock.advance(timedelta(days=1))
    assert work(database, keyring, settings, clock) == 0


def test_a_job_that_fails_then_succeeds_is_done(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    ran: Recorder,
) -> None:
    with database.transaction() as session:
        jobs.enqueue(session, clock.now(), KIND, fail=1)
    work(database, keyring, settings, clock)
    clock.advance(timedelta(minutes=1))
    work(database, keyring, settings, clock)

    job = the_job(database)
    assert job.done_at is not None
    assert job.attempts == 2
    assert ran.failures == []


def test_a_job_whose_input_is_bad_is_given_up_at_once(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    ran: Recorder,
) -> None:
    with database.transaction() as session:
        jobs.enqueue(session, clock.now(), KIND, permanent=True)
    work(database, keyring, settings, clock)

    job = the_job(database)
    assert job.failed_at is not None
    assert job.attempts == 1
    assert ran.failures == ["JobFailed: bad input"]


def test_a_claimed_job_is_left_to_its_worker_until_the_lease_runs_out(
    database: Database, clock: Clock
) -> None:
    with database.transaction() as session:
        jobs.enqueue(session, clock.now(), KIND)
    lease = timedelta(minutes=10)

    def claim() -> list[int]:
        return [job.id for job in jobs.claim(database, clock.now(), batch=5, lease=lease)]

    first = claim()
    assert len(first) == 1
    assert claim() == []
    clock.advance(lease)  # the first worker died: another takes the job, a new attempt
    assert claim() == first
    assert the_job(database).attempts == 2


def test_a_worker_that_outlived_its_lease_does_not_undo_the_run_that_replaced_it(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock
) -> None:
    # The first run stalls past its lease; meanwhile a second worker claims the job again
    # and finishes it. When the first run then gives up, the job stays done.
    runs: list[str] = []

    def run(context: jobs.JobContext, payload: dict[str, Any]) -> None:
        runs.append("run")
        if len(runs) == 1:
            clock.advance(jobs.DEFAULT_LEASE + timedelta(seconds=1))
            assert jobs.run_once(database, keyring, settings, clock.now) == 1
            raise JobFailed("the stalled run gives up")

    jobs.handler(STALLED, max_attempts=3)(run)
    try:
        with database.transaction() as session:
            jobs.enqueue(session, clock.now(), STALLED)
        assert jobs.run_once(database, keyring, settings, clock.now) == 1
    finally:
        jobs.HANDLERS.pop(STALLED, None)

    assert runs == ["run", "run"]
    with database.transaction() as session:
        job = session.scalars(select(Job).where(Job.kind == STALLED)).one()
        assert job.done_at is not None
        assert job.failed_at is None
        assert job.last_error is None
        assert job.attempts == 2


def test_a_job_of_an_unknown_kind_is_retried_not_lost(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock
) -> None:
    with database.transaction() as session:
        jobs.enqueue(session, clock.now(), KIND)
    work(database, keyring, settings, clock)

    job = the_job(database)
    assert job.done_at is None
    assert job.failed_at is None
    assert job.last_error is not None
    assert "no handler" in job.last_error


# --- the support desk's job: the license key read from a screenshot --------------------------


def open_card_request(form_browser: OpenBrowser, tmp_path: Path) -> str:
    key, png = license_details_png(tmp_path)
    email = f"card-{secrets.token_hex(4)}@example.com"
    response = send(form_browser(), card_request(email), [("details.png", png, "image/png")])
    assert response.status_code == 200, response.text
    return key


def the_attachment(database: Database) -> Attachment:
    with database.transaction() as session:
        return session.scalars(select(Attachment)).one()


def test_each_stored_screenshot_has_its_key_read_by_the_worker(
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    tmp_path: Path,
) -> None:
    key = open_card_request(form_browser, tmp_path)
    attachment = the_attachment(database)
    assert attachment.ocr_status == OcrStatus.PENDING
    assert ocr_reading(keyring, attachment) is None
    with database.transaction() as session:
        job = session.scalars(select(Job)).one()
        assert (job.kind, job.payload) == (READ_KEY, {"attachment_id": attachment.id})

    assert work(database, keyring, settings, clock) == 1

    attachment = the_attachment(database)
    assert attachment.ocr_status == OcrStatus.DONE
    assert attachment.ocr_at is not None
    reading = ocr_reading(keyring, attachment)
    assert reading is not None
    assert reading.verified
    assert reading.license_key == key
    assert attachment.ocr_ciphertext is not None
    assert key.encode() not in attachment.ocr_ciphertext


def test_without_tesseract_the_reading_is_retried_then_marked_failed(
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    open_card_request(form_browser, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract to be found

    work(database, keyring, settings, clock)
    assert the_attachment(database).ocr_status == OcrStatus.PENDING  # it may come back
    for _ in range(jobs.HANDLERS[READ_KEY].max_attempts):
        clock.advance(timedelta(hours=1))
        work(database, keyring, settings, clock)

    attachment = the_attachment(database)
    assert attachment.ocr_status == OcrStatus.FAILED
    assert attachment.ocr_error is not None
    assert "tesseract" in attachment.ocr_error.lower()
    assert ocr_reading(keyring, attachment) is None
