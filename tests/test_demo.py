"""``licensor demo`` (what ``make demo`` runs): its data, its guide, and that running it
again adds nothing. It always uses the embedded default, a SQLite file of its own."""

from __future__ import annotations

from pathlib import Path

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
from licensor.units import UnitOfWork
from tests.cli_support import cli_environment, run


def _counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Plan, Account, ActivationCode, Subscription, SupportRequest, Attachment)
        }


def test_the_demo_has_codes_accounts_and_a_lost_card_request_ready_for_the_desk(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
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

    # The worker reads the key from the lost card's screenshot, as in production.
    worked = run("licensor", "worker", "--once", environment=environment, cwd=tmp_path)
    assert worked.returncode == 0, worked.stderr
    settings = Settings(var_dir=tmp_path, database_url=url, _env_file=None)
    database = Database(settings)
    keyring = load_keyring(settings)
    with database.transaction() as session:
        request = session.scalars(select(SupportRequest)).one()
        assert request.topic == Topic.RECOVER_CARD_CODE
        [attachment] = request.attachments
        assert attachment.ocr_status == OcrStatus.DONE
        reading = ocr_reading(keyring, attachment)
        assert reading is not None
        assert reading.text
        # Read right nearly always (bench/ocr.py); the rare miss is left unverified, never
        # wrong, so a test on a random key checks what was read only when it holds.
        if reading.verified:
            assert reading.license_key
            license = UnitOfWork(session, keyring, settings, clock.now()).licensing.find_license(
                reading.license_key
            )
            assert license.activation_code is not None
            assert license.activation_code.batch_id is not None  # a printed card's code
    before = _counts(database)

    again = run("licensor", "demo", "--no-serve", environment=environment, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _counts(database) == before
    assert all(code in again.stdout for code in codes)
    database.dispose()
