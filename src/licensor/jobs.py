"""Background jobs (docs/adr/0004): rows of the ``jobs`` table, done by ``licensor worker``.

A job is written with ``enqueue`` in the transaction that asks for it, so it exists if
and only if that change committed. The worker claims due jobs under a lease, as it does
the outbox's messages (licensor/leases.py), then runs each job's handler with no
transaction open: the handler opens its own short ones (reading a screenshot takes
seconds; no lock is held meanwhile). The outcome is recorded in a transaction of its own:
done; or retried with backoff; or, after its kind's last attempt (or a ``JobFailed``),
failed, after the kind's ``on_failure`` has had its say. A worker killed mid-job loses
nothing: the lease runs out and another worker runs it again, so handlers must be safe to
run twice. Handlers register with ``@handler`` in their domain's ``tasks`` module, which
the worker imports (licensor/worker.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from licensor.config import Settings
from licensor.db import Database
from licensor.errors import JobFailed
from licensor.keys import Keyring
from licensor.leases import Failure, LeasedTable
from licensor.logging import current_request_id, log, request_bound
from licensor.models import Job
from licensor.units import UnitOfWork, open_unit

DEFAULT_MAX_ATTEMPTS = 5
BATCH = 5
DEFAULT_LEASE = timedelta(minutes=10)

JOBS = LeasedTable(Job, Job.done_at)


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


def enqueue(session: Session, now: datetime, kind: str, **payload: Any) -> Job:
    """Ask for ``kind`` to be done with ``payload`` (JSON values) once this commits; it
    carries the id of the request (or job) asking, which the worker binds when it runs."""
    job = Job(
        kind=kind,
        payload=payload,
        created_at=now,
        attempts=0,
        next_attempt_at=now,
        request_id=current_request_id(),
    )
    session.add(job)
    return job


def claim(
    database: Database, now: datetime, *, batch: int = BATCH, lease: timedelta = DEFAULT_LEASE
) -> list[Job]:
    """Take up to ``batch`` due jobs for this worker; other workers skip them."""
    return JOBS.claim(database, now, batch=batch, lease=lease)


def run_job(context: JobContext, job: Job) -> bool:
    """Run one claimed job and record how it ended; True when it is done."""
    registered = HANDLERS.get(job.kind)
    try:
        if registered is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        if job.attempts > registered.max_attempts:  # its last worker died running it
            raise JobFailed(f"gave up after {job.attempts - 1} attempts")
        registered.run(context, dict(job.payload or {}))
    except Exception as error:
        _failed(context, job, registered, error)
        return False
    JOBS.finish(context.database, job, context.now())
    log.info("jobs.done", job=job.id, kind=job.kind, attempts=job.attempts)
    return True


def _failed(context: JobContext, job: Job, registered: Handler | None, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"[:2000]
    last = isinstance(error, JobFailed) or job.attempts >= (
        registered.max_attempts if registered else DEFAULT_MAX_ATTEMPTS
    )
    if last and registered is not None and registered.on_failure is not None:
        try:
            registered.on_failure(context, dict(job.payload or {}), message)
        except Exception as failure:
            log.error("jobs.on_failure_error", job=job.id, kind=job.kind, error=repr(failure))
    outcome = JOBS.fail(context.database, job, context.now(), message, give_up=last)
    if outcome == Failure.LEASE_LOST:
        log.warning("jobs.lease_lost", job=job.id, kind=job.kind, error=message)
    elif outcome == Failure.GIVEN_UP:
        log.error("jobs.failed", job=job.id, kind=job.kind, attempts=job.attempts)
    else:
        log.warning("jobs.retry", job=job.id, kind=job.kind, attempts=job.attempts, error=message)


def run_once(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    now: Callable[[], datetime],
    *,
    batch: int = BATCH,
    lease: timedelta = DEFAULT_LEASE,
) -> int:
    """Claim the due jobs (a batch at most) and run each; returns how many were run (done
    or not)."""
    context = JobContext(database, keyring, settings, now)
    claimed = claim(database, now(), batch=batch, lease=lease)
    for job in claimed:
        with request_bound(job.request_id):  # its records join the request's
            run_job(context, job)
    return len(claimed)
