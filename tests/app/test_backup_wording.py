"""What Save license backup promises (issue 14, item 15): a backup without a passphrase
opens after an OS reinstall only where the computer keeps its identity through one, and
the window and its outcome say which holds here, as ``licensor-client export`` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from licensor_app import LicensorApp
from licensor_client import _machine
from tests.app.conftest import MakeMachine
from tests.app.screens import SIZE, activate, click, fill, message, open_licensing, text
from tests.licensing.factories import MakeCode

pytestmark = pytest.mark.anyio


async def _save(app: LicensorApp, code: str, backup: Path, passphrase: str = "") -> tuple[str, str]:
    """Activate, open Save license backup, save; (the window's note, the outcome)."""
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
        await click(pilot, "#save-backup")
        note = text(pilot, "#backup-note")
        fill(pilot, "#backup-path", str(backup))
        fill(pilot, "#backup-passphrase", passphrase)
        await click(pilot, "#save")
        return note, message(pilot)


async def test_where_the_identity_changes_with_a_reinstall_the_window_says_so(
    machine: MakeMachine, make_code: MakeCode, tmp_path: Path
) -> None:
    # The tests' machines are LICENSOR_FINGERPRINT overrides: an identity that does not
    # outlive a reinstall, as the OS's own id would not.
    note, said = await _save(machine("vm"), make_code(), tmp_path / "plain.json")

    assert "a backup without a passphrase cannot be restored after a reinstall" in note
    assert "may not" not in note + said
    assert said.startswith(f"License backup saved to {tmp_path / 'plain.json'}.")
    assert "until its system is reinstalled; before a reinstall, save it again with a" in said

    note, said = await _save(
        machine("vm2"), make_code(), tmp_path / "protected.json", passphrase="blue heron"
    )
    assert "Keep a copy outside this computer" in said


async def test_where_the_identity_survives_a_reinstall_the_backup_keeps_the_seat(
    server: str, make_code: MakeCode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LICENSOR_FINGERPRINT", raising=False)
    monkeypatch.setattr(_machine, "_firmware_uuid", lambda: "4c4c4544-0042-3510-8057-b4c04f4a3732")
    app = LicensorApp(server, state_dir=tmp_path / "state", screenshot_dir=tmp_path)
    assert app.client.machine.survives_reinstall

    note, said = await _save(app, make_code(), tmp_path / "backup.json")

    assert note.startswith(
        "Without a passphrase the backup can be restored on this computer only, also after "
        "its system is reinstalled"
    )
    assert "Keep a copy outside this computer" in said
