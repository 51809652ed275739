"""``licensor demo`` (what ``make demo`` runs): its data, its guide, that running it again
adds nothing, that its lost card's screenshot is read as in production, and that its
worker stops with its server. It always uses the embedded default, a SQLite file of its
own."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from licensor.clock import clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import load_keyring
from licensor.licensing import formats
from licensor.models import (
    Account,
    ActivationCode,
    Attachment,
    OcrStatus,
    Plan,
    Subscription,
    SupportRequest,
    Topic,
)
from licensor.support.attachments import ocr_reading
from licensor.units import open_unit
from tests.cli_support import answers, cli_environment, console_script, run
from tests.support import free_port, wait_until


def _counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Plan, Account, ActivationCode, Subscription, SupportRequest, Attachment)
        }


def _demo_database(tmp_path: Path) -> tuple[str, Settings, Database]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(var_dir=tmp_path, database_url=url, _env_file=None)
    return url, settings, Database(settings)


def _card_attachment(database: Database) -> Attachment:
    with database.transaction() as session:
        request = session.scalars(select(SupportRequest)).one()
        assert request.topic == Topic.RECOVER_CARD_CODE
        [attachment] = session.scalars(
            select(Attachment).where(Attachment.request_id == request.id)
        ).all()
        return attachment


def test_the_demo_has_codes_accounts_and_a_lost_card_request_and_again_adds_nothing(
    tmp_path: Path,
) -> None:
    url, _settings, database = _demo_database(tmp_path)
    environment = cli_environment(tmp_path, url)

    first = run("licensor", "demo", "--no-serve", environment=environment, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    guide = first.stdout
    codes = [
        line.strip()
        for line in guide.splitlines()
        if line.startswith("  ") and formats.is_valid_code(line.strip())
    ]
    assert len(codes) == 3
    for fragment in ("customer@example.com", "admin@example.com", "/support", "/desk", "/store"):
        assert fragment in guide
    # The lost card's request waits for the worker to read its screenshot.
    assert _card_attachment(database).ocr_status == OcrStatus.PENDING
    before = _counts(database)

    again = run("licensor", "demo", "--no-serve", environment=environment, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _counts(database) == before
    assert all(code in again.stdout for code in codes)
    database.dispose()


def test_the_worker_reads_the_key_of_the_demos_lost_card_from_its_screenshot(
    tmp_path: Path,
) -> None:
    url, settings, database = _demo_database(tmp_path)
    environment = cli_environment(tmp_path, url)
    seeded = run("licensor", "demo", "--no-serve", environment=environment, cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr

    worked = run("licensor", "worker", "--once", environment=environment, cwd=tmp_path)
    assert worked.returncode == 0, worked.stderr
    assert "1 background job run" in worked.stdout

    attachment = _card_attachment(database)
    assert attachment.ocr_status == OcrStatus.DONE
    reading = ocr_reading(load_keyring(settings), attachment)
    assert reading is not None
    assert reading.verified
    assert reading.license_key
    with open_unit(database, load_keyring(settings), settings, clock.now()) as unit:
        license = unit.licenses.find_license(reading.license_key)
        assert license.activation_code is not None
        assert license.activation_code.batch_id is not None  # a printed card's code
    database.dispose()


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started that are still running (Linux's /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "status"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 0)]
)
def test_the_demos_worker_stops_with_its_server(
    tmp_path: Path, stop: signal.Signals, status: int
) -> None:
    url, _settings, database = _demo_database(tmp_path)
    environment = cli_environment(tmp_path, url)
    environment["LICENSOR_LOG_LEVEL"] = "INFO"
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as stderr:
        demo = subprocess.Popen(
            [str(console_script("licensor")), "demo", "--port", str(port)],
            env=environment,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_until(
                lambda: answers(f"http://127.0.0.1:{port}"),
                "the demo to serve",
                timeout=90,
                interval=0.2,
            )
            # Its worker is at work: it reads the lost card's screenshot.
            wait_until(
                lambda: _card_attachment(database).ocr_status == OcrStatus.DONE,
                "the demo's worker to read the screenshot",
                timeout=90,
                interval=0.2,
            )
            assert _children(demo.pid) == []  # the worker is no process of its own

            demo.send_signal(stop)
            assert demo.wait(timeout=30) == status, log.read_text()
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait(timeout=30)
    events = log.read_text()
    assert "worker.started" in events
    assert "worker.stopped" in events  # stopped, not killed with the process
    assert not answers(f"http://127.0.0.1:{port}")
    database.dispose()
