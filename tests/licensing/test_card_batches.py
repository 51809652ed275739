"""A batch issued by the worker (issue 15: the console's "Issue codes"): a chunk a short
transaction, counted under the batch's lock, so a run cut short goes on from where it stopped
and two workers at once never issue a batch twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from licensor import db, jobs
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import card_batches, tasks
from licensor.licensing.card_batches import CardBatches
from licensor.models import ActivationCode, Batch, Job
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan


def _start(open_unit: OpenUnit, plan: str, count: int, chunk_size: int) -> int:
    with open_unit(actor="account:1") as unit:
        batch = unit.service(CardBatches).start(
            plan_code=plan, count=count, label="shop window", chunk_size=chunk_size
        )
        return batch.id


def _held(database: Database, batch_id: int) -> tuple[int, int, int]:
    """Codes held, distinct blind indexes among them, and the batch's ``issued_count``."""
    with database.transaction() as session:
        where = ActivationCode.batch_id == batch_id
        held = session.scalar(select(func.count()).where(where))
        distinct = session.scalar(
            select(func.count(func.distinct(ActivationCode.code_index))).where(where)
        )
        issued = session.scalar(select(Batch.issued_count).where(Batch.id == batch_id))
        return int(held or 0), int(distinct or 0), int(issued or 0)


def test_a_batch_cut_short_by_a_crash_is_finished_by_the_retried_job(
    open_unit: OpenUnit,
    make_plan: MakePlan,
    database: Database,
    clock: Clock,
    run_jobs: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch_id = _start(open_unit, make_plan("plus"), count=23, chunk_size=5)
    inserts = 0
    real_insert = db.bulk_insert

    def dies_on_the_third_chunk(*args: object, **kwargs: object) -> None:
        nonlocal inserts
        inserts += 1
        if inserts == 3:
            raise ConnectionError("the database went away")
        real_insert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(card_batches, "bulk_insert", dies_on_the_third_chunk)
    run_jobs()
    assert _held(database, batch_id) == (10, 10, 10)  # two chunks committed, counted

    clock.advance(timedelta(minutes=5))  # the retry's backoff
    run_jobs()
    assert _held(database, batch_id) == (23, 23, 23)
    with database.transaction() as session:
        job = session.scalars(select(Job).where(Job.kind == card_batches.ISSUE_JOB)).one()
        assert job.done_at is not None
        assert job.attempts == 2


def test_two_workers_at_once_never_issue_a_batch_twice(
    open_unit: OpenUnit,
    make_plan: MakePlan,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
) -> None:
    batch_id = _start(open_unit, make_plan("plus"), count=60, chunk_size=4)
    context = jobs.JobContext(database, keyring, settings, clock.now)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            tasks.issue_batch(context, {"batch_id": batch_id, "chunk_size": 4})
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert _held(database, batch_id) == (60, 60, 60)
