"""``licensor-client`` in this process against the fake server: what it asks, what it
warns about, and how each failure reads (once, with its code and hint, never a traceback)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from licensor_client import _machine, cli, exceptions
from licensor_client.exceptions import BackupError, LicensorClientError
from tests.client.conftest import (
    CODE,
    LICENSE_KEY,
    DeviceClock,
    FakeServer,
    RunCli,
    Terminal,
    problem,
)

# --- activate - -----------------------------------------------------------------------------


def test_activate_dash_reads_the_code_from_standard_input(
    run_cli: RunCli, fake_server: FakeServer
) -> None:
    ran = run_cli("activate", "-", stdin=f"  {CODE}\n")
    assert ran.status == 0, ran.stderr
    assert fake_server.sent("/api/v1/activations")[0]["activation_code"] == CODE

    empty = run_cli("activate", "-", stdin="")
    assert empty.status == 2
    assert "standard input" in empty.stderr


def test_the_help_says_activate_dash_keeps_the_code_out_of_the_history(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "activate CODE | -" in text
    assert "standard input" in text
    assert "shell's history" in text


# --- secrets: asked only when needed, twice for a new passphrase --------------------------


@pytest.fixture
def typed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What the user types at each ``getpass`` prompt, in order; the prompts are kept."""
    answers: list[str] = []
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr("licensor_client.cli.commands.getpass.getpass", getpass)
    yield answers
    assert not answers, f"not asked: {answers} (asked: {prompts})"


def test_export_asks_for_the_passphrase_twice_and_refuses_a_mismatch_or_nothing(
    run_cli: RunCli, typed: list[str], tmp_path: Path
) -> None:
    assert run_cli("activate", CODE).status == 0
    backup = tmp_path / "license.backup"

    typed[:] = ["blue moon", "blue mood"]
    differ = run_cli("export", str(backup), "--passphrase", stdin=Terminal())
    assert differ.status == 2
    assert "differ" in differ.stderr
    assert not backup.exists()

    typed[:] = [""]
    empty = run_cli("export", str(backup), "--passphrase", stdin=Terminal())
    assert empty.status == 2
    assert "empty" in empty.stderr
    assert not backup.exists()

    typed[:] = ["blue moon", "blue moon"]
    saved = run_cli("export", str(backup), "--passphrase", stdin=Terminal())
    assert saved.status == 0, saved.stderr
    assert "passphrase" in json.loads(backup.read_text())["code"]


def test_without_a_license_nothing_is_asked(run_cli: RunCli, typed: list[str]) -> None:
    recover = run_cli("recover", "--email", "ada@example.com", stdin=Terminal())
    assert recover.status == 14
    export = run_cli("export", "license.backup", "--passphrase", stdin=Terminal())
    assert export.status == 14


# --- what a backup keeps -------------------------------------------------------------------


def identity(monkeypatch: pytest.MonkeyPatch, **readers: str | None) -> None:
    monkeypatch.delenv("LICENSOR_FINGERPRINT", raising=False)
    for name in ("_firmware_uuid", "_network_card_identity", "_os_identity", "_network_identity"):
        value = readers.get(name)
        monkeypatch.setattr(_machine, name, lambda value=value: value)


def test_export_says_whether_the_backup_survives_a_reinstall(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert run_cli("activate", CODE).status == 0
    overridden = run_cli("export", str(tmp_path / "one.backup"))
    assert overridden.status == 0
    assert "LICENSOR_FINGERPRINT" in overridden.stderr
    assert "--passphrase" in overridden.stderr

    identity(monkeypatch, _os_identity="0f6b3c7e1a9d4e2b8c5f7a1d3e9b6c20")
    assert run_cli("activate", CODE, state=tmp_path / "os").status == 0
    installed = run_cli("export", str(tmp_path / "two.backup"), state=tmp_path / "os")
    assert installed.status == 0
    # Said as it is, not as a "may": this backup will not survive a reinstall.
    assert "may not" not in installed.stdout + installed.stderr
    assert "only until its system is reinstalled" in installed.stdout
    assert "save the backup with --passphrase" in installed.stdout
    assert "Keep it somewhere the reinstall will not erase" not in installed.stdout

    identity(monkeypatch, _firmware_uuid="4c4c4544-0042-3510-8057-b4c04f4a3732")
    assert run_cli("activate", CODE, state=tmp_path / "firmware").status == 0
    durable = run_cli("export", str(tmp_path / "three.backup"), state=tmp_path / "firmware")
    assert durable.status == 0
    assert "warning" not in durable.stderr
    assert "also after its system is reinstalled" in durable.stdout


# --- files --------------------------------------------------------------------------------


def test_a_file_that_cannot_be_written_or_read_is_reported_not_a_traceback(
    run_cli: RunCli, state_dir: Path, tmp_path: Path
) -> None:
    assert run_cli("activate", CODE).status == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    ran = run_cli("export", str(blocker / "license.backup"), "--json")
    assert ran.status == 1
    assert re.search(r"^licensor-client: cannot write \S+license\.backup: ", ran.stderr, re.M)
    assert json.loads(ran.stdout)["error"] == "file_error"
    assert "Traceback" not in ran.stderr

    unreadable = tmp_path / "unreadable"
    (unreadable / "license.json").mkdir(parents=True)
    ran = run_cli("status", state=unreadable)
    assert ran.status == 1
    assert "cannot read" in ran.stderr


# --- how failures read --------------------------------------------------------------------


def test_every_sdk_error_has_a_stable_snake_case_code() -> None:
    classes = [
        value
        for value in vars(exceptions).values()
        if inspect.isclass(value) and issubclass(value, LicensorClientError)
    ]
    assert len(classes) > 25
    codes = {cls.code for cls in classes}
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)
    assert len(codes) == len(classes)


def test_a_failure_is_said_once_with_its_code_in_json(run_cli: RunCli) -> None:
    ran = run_cli("status", "--json")
    assert ran.status == 14
    assert ran.stderr.count("no license on this device") == 1
    assert json.loads(ran.stdout) == {
        "error": "not_activated",
        "message": "no license on this device: enter an activation code",
        "exit_status": 14,
    }


@pytest.mark.parametrize(
    "argv",
    [["--json"], ["activate", "--json"], ["--json", "dance"], ["status", "--json", "--nope"]],
)
def test_a_usage_error_under_json_prints_the_error_object(run_cli: RunCli, argv: list[str]) -> None:
    ran = run_cli(*argv)
    assert ran.status == 2
    refusal = json.loads(ran.stdout)
    assert (refusal["error"], refusal["exit_status"]) == ("usage", 2)
    assert refusal["message"]
    assert "usage:" in ran.stderr


@pytest.mark.parametrize("code", ["license_not_on_device", "license_unknown"])
def test_a_license_not_here_or_unknown_exits_14_with_a_hint(
    run_cli: RunCli, fake_server: FakeServer, code: str
) -> None:
    assert run_cli("activate", CODE).status == 0
    fake_server.routes["POST", "/api/v1/activations/release"] = lambda request: problem(
        403, code, "This license is not active on this device"
    )
    ran = run_cli("release", "--json")
    assert ran.status == 14
    assert json.loads(ran.stdout)["error"] == code
    assert "licensor-client activate CODE" in ran.stderr


def test_a_clock_wound_back_says_to_check_the_date_and_time(
    run_cli: RunCli, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    assert run_cli("activate", CODE).status == 0
    fake_server.error = httpx.ConnectError("offline")
    device_clock.advance(-timedelta(days=2))
    ran = run_cli("status")
    assert ran.status == 13
    assert "check this device's date and time" in ran.stderr


def test_a_backup_that_cannot_be_made_is_not_said_to_be_unrestorable() -> None:
    status, message, _ = cli.failure(BackupError(""), "export")
    assert (status, message) == (15, "the backup cannot be saved")
    assert cli.failure(BackupError(""), "import")[1] == "the backup cannot be restored"


# --- the app ------------------------------------------------------------------------------


def test_the_app_id_scopes_the_default_state_directory(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert run_cli("activate", CODE, "--app-id", "antivirus", state=None).status == 0
    assert (tmp_path / "xdg" / "antivirus" / "license.json").exists()

    monkeypatch.setenv("LICENSOR_APP_ID", "antivirus")
    shown = run_cli("details", "--json", state=None, server=None)  # the server as stored
    assert shown.status == 0, shown.stderr
    assert json.loads(shown.stdout)["license_key"] == LICENSE_KEY

    monkeypatch.delenv("LICENSOR_APP_ID")
    assert run_cli("details", state=None).status == 14  # licensor-client's own: none
    assert not (tmp_path / "xdg" / "licensor-client" / "license.json").exists()


def test_an_unsold_code_exits_16_and_says_the_shop_must_register_the_sale(
    run_cli: RunCli, fake_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.routes["POST", "/api/v1/activations"] = lambda request: problem(
        403,
        "code_not_sold",
        "This activation code has not been sold yet; the shop that sold it must register "
        "the sale first",
    )

    ran = run_cli("activate", CODE, "--json")

    assert ran.status == 16
    refusal = json.loads(ran.stdout)
    assert (refusal["error"], refusal["exit_status"]) == ("code_not_sold", 16)
    assert "has not been sold yet" in refusal["message"]
    assert "register the sale" in ran.stderr
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "16 code not sold yet" in capsys.readouterr().out
