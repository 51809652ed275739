"""Card batches are committed in chunks (issue 13, item 6): activations go on while a batch
is issued, and a batch cut short is told, listed as incomplete, and resumed or removed
without a code that no CSV lists."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from licensor.config import Settings
from licensor.db import Database
from licensor.errors import BatchCutShort
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.licensing.batches import issue_codes
from licensor.licensing.codes import CODE_PURPOSE
from licensor.models import ActivationCode, Batch
from tests.cli_support import cli_environment, console_script, licensor, one_line
from tests.licensing.factories import MakeCode, MakePlan, activate, device, try_activate
from tests.support import audit_events, wait_until

pytestmark = pytest.mark.slow


def _held(database: Database) -> int:
    """Codes committed in batches so far."""
    with database.transaction() as session:
        query = select(func.count()).where(ActivationCode.batch_id.is_not(None))
        return int(session.scalar(query) or 0)


def _batch_indexes(database: Database, batch_id: int) -> set[bytes]:
    with database.transaction() as session:
        query = select(ActivationCode.code_index).where(ActivationCode.batch_id == batch_id)
        return set(session.scalars(query))


def _csv_codes(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [row["activation_code"] for row in csv.DictReader(handle)]


def _indexes(keyring: Keyring, codes: list[str]) -> set[bytes]:
    canonical = (formats.normalize_code(code) for code in codes)
    return {keyring.blind_index(code, purpose=CODE_PURPOSE) for code in canonical}


@contextmanager
def _issuing(settings: Settings, cwd: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``licensor codes issue ARGS`` running in the background; killed (-9) if still
    running when the block ends."""
    environment = cli_environment(settings.var_dir, settings.database_url)
    command = [str(console_script("licensor")), "codes", "issue", *args]
    process = subprocess.Popen(
        command, env=environment, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


def test_activations_get_through_while_a_batch_is_being_issued(
    api: httpx.Client,
    make_code: MakeCode,
    database: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    codes = [make_code("plus") for _ in range(3)]
    count = 100_000
    arguments = ["--plan", "plus", "--count", str(count), "--chunk-size", "500"]
    with _issuing(settings, tmp_path, *arguments, "--out", str(tmp_path / "cards.csv")) as batch:
        wait_until(lambda: _held(database) > 0, "the first chunk to be committed")

        answers = [try_activate(api, code) for code in codes]

        assert batch.poll() is None, "the batch ended before the activations were answered"
        assert _held(database) < count
    assert [answer.status_code for answer in answers] == [201, 201, 201]


# Large enough that the batch is still being issued when the test kills it (30,000 took
# about a second and was sometimes done before the kill).
_KILLED_BATCH = 120_000


def test_a_batch_killed_midway_is_listed_incomplete_and_resumed_with_every_code_listed(
    make_plan: MakePlan,
    database: Database,
    settings: Settings,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    make_plan("plus")
    out = tmp_path / "cards.csv"
    arguments = [
        "--plan",
        "plus",
        "--count",
        str(_KILLED_BATCH),
        "--chunk-size",
        "1000",
        "--out",
        str(out),
    ]
    with _issuing(settings, tmp_path, *arguments):
        wait_until(lambda: _held(database) >= 3000, "a few chunks to be committed")
    with database.transaction() as session:
        batch_id = session.scalars(select(Batch.id)).one()
    committed = _batch_indexes(database, batch_id)
    partial = out.with_name("cards.csv.partial")

    assert not out.exists()  # no CSV under the printer's name for an incomplete batch
    listed = _indexes(keyring, _csv_codes(partial))
    assert committed <= listed  # every committed code is in the partial file
    assert len(listed - committed) <= 1000  # and at most the chunk being committed
    status, output, _ = licensor(tmp_path, settings, "codes", "batches", "--incomplete")
    assert status == 0
    assert f"{len(committed):,}/{_KILLED_BATCH:,}" in output
    assert "INCOMPLETE" in output

    status, output, errors = licensor(
        tmp_path, settings, "codes", "resume", str(batch_id), "--out", str(out)
    )

    assert status == 0, errors
    assert f"batch {batch_id}: {_KILLED_BATCH:,} plus codes written to {out}" in one_line(output)
    codes = _csv_codes(out)
    assert len(codes) == len(set(codes)) == _KILLED_BATCH
    assert _indexes(keyring, codes) == _batch_indexes(database, batch_id)
    assert committed <= _indexes(keyring, codes)
    assert not partial.exists()
    resumed = audit_events(database, "licensing.batch_resumed")
    assert [(event.subject_id, event.details["held"]) for event in resumed] == [
        (batch_id, len(committed))
    ]


def _cut_short(
    database: Database, keyring: Keyring, settings: Settings, out: Path, *, after: int
) -> int:
    """A batch of 1,000 stopped (Ctrl-C) once ``after`` codes are committed: its number."""
    done = 0

    def progress(size: int) -> None:
        nonlocal done
        done += size
        if done >= after:
            raise KeyboardInterrupt

    with pytest.raises(BatchCutShort) as stopped:
        issue_codes(
            database,
            keyring,
            settings,
            plan_code="plus",
            count=1000,
            out=out,
            chunk_size=100,
            progress=progress,
        )
    message = str(stopped.value)
    assert f"of its 1,000 codes are committed, and listed in {out}.partial" in message
    batch_id = int(message.split()[1])
    assert f"is incomplete: {after} of" in message
    assert f"`licensor codes resume {batch_id} --out {out}`" in message
    assert f"`licensor codes discard {batch_id}`" in message
    return batch_id


def test_a_batch_cut_short_is_removed_by_discard_unless_a_code_of_it_went_somewhere(
    api: httpx.Client,
    make_plan: MakePlan,
    database: Database,
    settings: Settings,
    keyring: Keyring,
    tmp_path: Path,
) -> None:
    make_plan("plus")
    unused = _cut_short(database, keyring, settings, tmp_path / "a.csv", after=200)
    used = _cut_short(database, keyring, settings, tmp_path / "b.csv", after=100)
    activate(api, _csv_codes(tmp_path / "b.csv.partial")[0], device())

    removed = licensor(tmp_path, settings, "codes", "discard", str(unused))
    refused = licensor(tmp_path, settings, "codes", "discard", str(used))

    assert removed[0] == 0, removed[2]
    assert f"batch {unused} removed with its 200 codes" in removed[1]
    assert _batch_indexes(database, unused) == set()
    assert refused[0] == 1
    assert "(batch_in_use)" in one_line(refused[2])
    assert len(_batch_indexes(database, used)) == 100
    with database.transaction() as session:
        assert list(session.scalars(select(Batch.id))) == [used]
    discarded = audit_events(database, "licensing.batch_discarded")
    assert [(event.subject_id, event.details["removed"]) for event in discarded] == [(unused, 200)]


def test_a_complete_batch_is_not_discarded(
    make_plan: MakePlan, database: Database, settings: Settings, keyring: Keyring, tmp_path: Path
) -> None:
    make_plan("plus")
    batch = issue_codes(
        database, keyring, settings, plan_code="plus", count=10, out=tmp_path / "c.csv"
    )

    status, _, errors = licensor(tmp_path, settings, "codes", "discard", str(batch.batch_id))

    assert status == 1
    assert "block its codes instead (batch_complete)" in one_line(errors)
    assert len(_batch_indexes(database, batch.batch_id)) == 10
