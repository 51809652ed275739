"""Background jobs (docs/adr/0004): rows of the ``jobs`` table, done by ``licensor worker``.

A job is written with ``enqueue`` in the transaction that asks for it, so it exists if
and only if that change committed. The worker claims due jobs under a lease in one short
transaction, then runs each job's handler with no transaction open: the handler opens
its own short ones (reading a screenshot takes seconds; no lock is held meanwhile). The
outcome is recorded in a transaction of its own: done; or retried with backoff; or,
after its kind's last attempt (or a ``JobFailed``), failed, after the kind's
``on_failure`` has had its say. A worker killed mid-job loses nothing: the lease runs
out and another worker runs it again, so handlers must be safe to run twice.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.logging import log
from licensor.models import Job
from licensor.units import UnitOfWork, open_unit

DEFAULT_MAX_ATTEMPTS = 5
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600
DEFAULT_LEASE = timedelta(minutes=10)

# Modules whose handlers the worker loads before its first pass.
TASK_MODULES = ("licensor.support.tasks", "licensor.store.tasks")


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the database (to open its own transactions), the keys, the
    settings and the clock."""

    database: Database
    keyring: Keyring
    settings: Settings
    clock: Callable[[], datetime]

    def now(self) -> datetime:
        return self.clock()

    def unit(self) -> AbstractContextManager[UnitOfWork]:
        """A unit of work in a short transaction of its own, acting as the worker."""
        return open_unit(self.database, self.keyring, self.settings, self.now(), actor="worker")


Run = Callable[[JobContext, dict[str, Any]], None]
OnFailure = Callable[[JobContext, dict[str, Any], str], None]


class JobFailed(Exception):
    """Raised by a handler when trying again cannot help (the input itself is bad)."""


@dataclass(frozen=True)
class Handler:
    kind: str
    run: Run
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    on_failure: OnFailure | None = None  # told once, when the job is given up


HANDLERS: dict[str, Handler] = {}


def handler(
    kind: str, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS, on_failure: OnFailure | None = None
) -> Callable[[Run], Run]:
    """Register the decorated function as the handler of ``kind``."""

    def register(run: Run) -> Run:
        HANDLERS[kind] = Handler(kind, run, max_attempts, on_failure)
        return run

    return register


def load_handlers() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def enqueue(session: Session, now: datetime, kind: str, **payload: Any) -> Job:
    """Ask for ``kind`` to be done with ``payload`` (JSON values) once this commits."""
    job = Job(kind=kind, payload=payload, created_at=now, attempts=0, next_attempt_at=now)
    session.add(job)
    return job


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), LONGEST_RETRY_SECONDS))


def claim(database: Database, now: datetime, *, batch: int, lease: timedelta) -> list[int]:
    """Take up to ``batch`` due jobs for this worker; other workers skip them. Each claim
    counts as an attempt, so a job that kills its worker is still given up in the end."""
    with database.transaction() as session:
        query = (
            select(Job)
            .where(
                Job.done_at.is_(None),
                Job.failed_at.is_(None),
                Job.next_attempt_at <= now,
                or_(Job.claimed_until.is_(None), Job.claimed_until <= now),
            )
            .order_by(Job.next_attempt_at, Job.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        jobs = list(session.scalars(query))
        for job in jobs:
            job.claimed_until = now + lease
            job.attempts += 1
        return [job.id for job in jobs]


def run_job(context: JobContext, job_id: int) -> bool:
    """Run one claimed job and record how it ended; True when it is done."""
    with context.database.transaction() as session:
        job = session.get(Job, job_id)
        if job is None or job.done_at is not None or job.failed_at is not None:
            return False
        kind, payload, attempts = job.kind, dict(job.payload or {}), job.attempts
    registered = HANDLERS.get(kind)
    try:
        if registered is None:
            raise LookupError(f"no handler for job kind {kind!r}")
        if attempts > registered.max_attempts:  # its last worker died running it
            raise JobFailed(f"gave up after {attempts - 1} attempts")
        registered.run(context, payload)
    except Exception as error:
        message = f"{type(error).__name__}: {error}"[:2000]
        last = isinstance(error, JobFailed) or attempts >= (
            registered.max_attempts if registered else DEFAULT_MAX_ATTEMPTS
        )
        if last and registered is not None and registered.on_failure is not None:
            try:
                registered.on_failure(context, payload, message)
            except Exception as failure:
                log.error("jobs.on_failure_error", job=job_id, kind=kind, error=repr(failure))
        _record_failure(context, job_id, attempts, message, last)
        return False
    with context.database.transaction() as session:
        stored = session.get_one(Job, job_id, with_for_update=True)
        if stored.done_at is None:  # done is done, whichever worker got there
            stored.done_at = context.now()
            stored.failed_at = None
            stored.claimed_until = None
            stored.last_error = None
    log.info("jobs.done", job=job_id, kind=kind, attempts=attempts)
    return True


def _record_failure(
    context: JobContext, job_id: int, claimed_attempt: int, message: str, last: bool
) -> None:
    """Record a failed run, unless the job has moved on without this worker: its lease ran
    out and another worker claimed it again (the attempt count tells) or finished it."""
    now = context.now()
    with context.database.transaction() as session:
        stored = session.get_one(Job, job_id, with_for_update=True)
        if stored.done_at is not None or stored.attempts != claimed_attempt:
            log.warning("jobs.lease_lost", job=job_id, kind=stored.kind, error=message)
            return
        stored.claimed_until = None
        stored.last_error = message
        if last:
            stored.failed_at = now
            log.error("jobs.failed", job=job_id, kind=stored.kind, attempts=stored.attempts)
        else:
            stored.next_attempt_at = now + backoff(stored.attempts)
            log.warning(
                "jobs.retry", job=job_id, kind=stored.kind, attempts=stored.attempts, error=message
            )


def run_once(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    now: Callable[[], datetime],
    *,
    batch: int = 5,
    lease: timedelta = DEFAULT_LEASE,
) -> int:
    """One pass over the due jobs; returns how many were run (done or not)."""
    load_handlers()
    context = JobContext(database, keyring, settings, now)
    claimed = claim(database, now(), batch=batch, lease=lease)
    for job_id in claimed:
        run_job(context, job_id)
    return len(claimed)
