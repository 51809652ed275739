"""``licensor-client`` as a script or a support agent runs it: the installed command against a
real server, human output, ``--json`` and an exit status per kind of failure."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.clock import Clock
from licensor.licensing import formats
from tests.cli_support import cli_environment, one_line
from tests.cli_support import run as run_script
from tests.licensing.factories import seats_used
from tests.limits import StartLimitedServer
from tests.support import closed_server


@dataclass
class Device:
    """One machine with ``licensor-client`` installed: its own state and fingerprint."""

    server: str
    state_dir: Path
    fingerprint: str
    cwd: Path

    def run(self, *args: str, server: str | None = None, **environment: str) -> Any:
        env = cli_environment(self.cwd / "var")
        env.update(LICENSOR_FINGERPRINT=self.fingerprint, **environment)
        return run_script(
            "licensor-client",
            "--server",
            server or self.server,
            "--state-dir",
            str(self.state_dir),
            *args,
            environment=env,
            cwd=self.cwd,
        )

    def json(self, *args: str, **environment: str) -> tuple[int, dict[str, Any]]:
        ran = self.run(*args, "--json", **environment)
        return ran.returncode, json.loads(ran.stdout)


@pytest.fixture
def new_device(server: str, tmp_path: Path) -> Callable[[str], Device]:
    def make(name: str) -> Device:
        return Device(server, tmp_path / name / "state", f"cli-test-{name}-0123456789", tmp_path)

    return make


@pytest.fixture
def laptop(new_device: Callable[[str], Device]) -> Device:
    return new_device("laptop")


def test_activate_prints_the_license_and_keeps_no_code_in_clear(
    laptop: Device, make_code: Callable[..., str]
) -> None:
    code = make_code("plus", devices_max=3)

    ran = laptop.run("activate", code)

    assert ran.returncode == 0, ran.stderr
    assert "Activated." in ran.stdout
    assert "Devices:     1 of 3" in ran.stdout
    key_line = next(line for line in ran.stdout.splitlines() if "License key:" in line)
    groups = key_line.split(":", 1)[1].split()
    assert len(groups) == 8
    assert all(len(group) == 4 for group in groups)
    stored = b"".join(path.read_bytes() for path in laptop.state_dir.rglob("*") if path.is_file())
    assert code.encode() not in stored
    assert code.replace("-", "").encode() not in stored


def test_status_and_details_in_json_agree_with_the_server(
    laptop: Device, make_code: Callable[..., str], api: httpx.Client
) -> None:
    status, activated = laptop.json("activate", make_code())
    assert status == 0

    status, checked = laptop.json("status")
    assert status == 0
    assert checked["valid"] is True
    assert checked["source"] == "online"
    assert checked["license_key"] == activated["license_key"]
    assert seats_used(api, checked["license_key"], laptop.fingerprint) == checked["devices_used"]

    status, details = laptop.json("details")
    assert status == 0
    assert details["public_id"] == activated["public_id"]


def test_status_falls_back_to_the_license_file_when_the_server_is_away(
    laptop: Device, make_code: Callable[..., str]
) -> None:
    assert laptop.run("activate", make_code()).returncode == 0

    ran = laptop.run("status", "--json", server=closed_server())

    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["source"] == "offline"


def test_an_expired_license_reports_not_valid_with_its_own_status(
    laptop: Device, make_code: Callable[..., str], clock: Clock
) -> None:
    assert laptop.run("activate", make_code(term_days=30)).returncode == 0
    clock.advance(timedelta(days=31))

    status, checked = laptop.json("status")

    assert status == 4
    assert checked["valid"] is False
    assert checked["status"] == "expired"


def test_a_mistyped_code_exits_5_with_a_hint(laptop: Device, make_code: Callable[..., str]) -> None:
    code = make_code()
    typo = code[:-1] + ("A" if code[-1] != "A" else "B")

    ran = laptop.run("activate", typo)

    assert ran.returncode == 5
    assert "mistyped" in ran.stderr
    assert "check the code for typos" in ran.stderr


def test_refusals_have_their_own_exit_status(
    new_device: Callable[[str], Device],
    make_code: Callable[..., str],
    block_code: Callable[[str, str], None],
) -> None:
    first, second = new_device("first"), new_device("second")
    single = make_code("solo", devices_max=1)
    assert first.run("activate", single).returncode == 0

    limit = second.run("activate", single)
    assert limit.returncode == 8
    assert "/account/devices" in limit.stderr

    blocked = make_code()
    block_code(blocked, "refund")
    refused = second.run("activate", blocked)
    assert refused.returncode == 7
    assert "contact customer support" in refused.stderr

    offline = second.run("activate", make_code(), server=closed_server())
    assert offline.returncode == 3
    assert "cannot be reached" in one_line(offline.stderr)

    nothing = second.run("status")
    assert nothing.returncode == 14
    assert "licensor-client activate CODE" in nothing.stderr


def test_an_unknown_code_exits_6_and_json_names_the_error(
    laptop: Device, make_code: Callable[..., str]
) -> None:
    make_code()  # a plan and a code exist; this other well-formed code was never issued
    never_issued = formats.format_code(formats.generate_code())

    ran = laptop.run("activate", never_issued, "--json")

    assert ran.returncode == 6
    refusal = json.loads(ran.stdout)
    assert refusal["error"] == "code_unknown"
    assert refusal["exit_status"] == 6
    assert refusal["message"] == "This activation code is not known"  # the server's sentence, once


def test_recover_sends_the_license_to_the_account_with_the_password_from_the_environment(
    laptop: Device,
    make_code: Callable[..., str],
    make_account: Callable[..., Any],
) -> None:
    customer = make_account()
    assert laptop.run("activate", make_code()).returncode == 0

    wrong = laptop.run("recover", "--email", customer.email, LICENSOR_PASSWORD="not it")
    assert wrong.returncode == 10

    ran = laptop.run("recover", "--email", customer.email, LICENSOR_PASSWORD=customer.password)
    assert ran.returncode == 0, ran.stderr
    assert "was sent to your account" in ran.stdout
    assert "/account/licenses" in ran.stdout

    again = laptop.run("recover", "--email", customer.email, LICENSOR_PASSWORD=customer.password)
    assert "was already in your account" in again.stdout


def test_recover_without_a_password_or_a_terminal_says_how_to_give_one(
    laptop: Device, make_code: Callable[..., str]
) -> None:
    assert laptop.run("activate", make_code()).returncode == 0

    ran = laptop.run("recover", "--email", "someone@example.com")

    assert ran.returncode == 2
    assert "LICENSOR_PASSWORD" in ran.stderr


def test_release_frees_the_seat_for_another_device(
    new_device: Callable[[str], Device], make_code: Callable[..., str]
) -> None:
    old, new = new_device("old"), new_device("new")
    code = make_code("single", devices_max=1)
    assert old.run("activate", code).returncode == 0
    assert new.run("activate", code).returncode == 8

    released = old.run("release")
    assert released.returncode == 0, released.stderr
    assert "now on 0 of 1 devices" in released.stdout

    assert new.run("activate", code).returncode == 0
    assert old.run("status").returncode == 14


def test_export_then_import_after_wiping_the_state_keeps_the_same_seat(
    laptop: Device, make_code: Callable[..., str], api: httpx.Client, tmp_path: Path
) -> None:
    status, activated = laptop.json("activate", make_code())
    backup = tmp_path / "backup.json"
    assert laptop.run("export", str(backup)).returncode == 0
    for path in laptop.state_dir.iterdir():
        path.unlink()

    status, restored = laptop.json("import", str(backup))

    assert status == 0
    assert restored["license_key"] == activated["license_key"]
    assert seats_used(api, activated["license_key"], laptop.fingerprint) == 1


def test_a_backup_with_a_passphrase_moves_to_another_machine_and_not_without_it(
    new_device: Callable[[str], Device], make_code: Callable[..., str], tmp_path: Path
) -> None:
    old, new = new_device("before"), new_device("after")
    assert old.run("activate", make_code()).returncode == 0
    backup = tmp_path / "backup.json"
    saved = old.run("export", str(backup), "--passphrase", LICENSOR_BACKUP_PASSPHRASE="blue moon")
    assert saved.returncode == 0, saved.stderr

    locked = new.run("import", str(backup))
    assert locked.returncode == 15
    assert "passphrase" in locked.stderr

    wrong = new.run("import", str(backup), "--passphrase", LICENSOR_BACKUP_PASSPHRASE="red sun")
    assert wrong.returncode == 15

    moved = new.run("import", str(backup), "--passphrase", LICENSOR_BACKUP_PASSPHRASE="blue moon")
    assert moved.returncode == 0, moved.stderr
    assert "Devices:     2 of 3" in moved.stdout


def test_connect_prints_the_code_to_enter_in_my_account(laptop: Device) -> None:
    status, shown = laptop.json("connect", "--no-wait")

    assert status == 0
    assert shown["verification_uri"].endswith("/account/connect")
    assert shown["user_code"].replace("-", "") in shown["verification_uri_complete"]


def test_no_server_is_a_usage_error(tmp_path: Path) -> None:
    ran = run_script(
        "licensor-client", "status", environment=cli_environment(tmp_path), cwd=tmp_path
    )
    assert ran.returncode == 2
    assert "--server URL" in ran.stderr


def test_a_license_expired_before_it_reaches_another_device_exits_9(
    new_device: Callable[[str], Device], make_code: Callable[..., str], clock: Clock
) -> None:
    first, second = new_device("first"), new_device("second")
    code = make_code("week", term_days=7)
    assert first.run("activate", code).returncode == 0
    clock.advance(timedelta(days=8))

    ran = second.run("activate", code, "--json")

    assert ran.returncode == 9
    assert json.loads(ran.stdout)["error"] == "license_expired"


def test_an_account_that_refuses_exits_11(
    laptop: Device, make_code: Callable[..., str], make_account: Callable[..., Any]
) -> None:
    unconfirmed = make_account(verified=False)
    assert laptop.run("activate", make_code()).returncode == 0

    ran = laptop.run(
        "recover", "--email", unconfirmed.email, LICENSOR_PASSWORD=unconfirmed.password
    )

    assert ran.returncode == 11
    assert "confirmation email" in ran.stderr


def test_too_many_activations_exit_12_with_when_to_try_again(
    new_device: Callable[[str], Device],
    make_code: Callable[..., str],
    limited_server: StartLimitedServer,
) -> None:
    codes = [make_code() for _ in range(3)]
    with limited_server(activation_rate="2/minute") as limited:
        devices = [new_device(f"limited-{index}") for index in range(3)]
        for device, code in zip(devices[:2], codes, strict=False):
            assert device.run("activate", code, server=limited.url).returncode == 0
        ran = devices[2].run("activate", codes[2], server=limited.url)
    assert ran.returncode == 12
    assert re.search(r"try again in \d+ seconds", ran.stderr)


def test_a_tampered_license_file_exits_13(laptop: Device, make_code: Callable[..., str]) -> None:
    assert laptop.run("activate", make_code("duo", devices_max=2)).returncode == 0
    path = laptop.state_dir / "license.json"
    state = json.loads(path.read_text())
    state["license_file"]["payload"]["devices_max"] = 20
    path.write_text(json.dumps(state))

    ran = laptop.run("status")

    assert ran.returncode == 13
    assert "tampered" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_details_work_without_the_server(laptop: Device, make_code: Callable[..., str]) -> None:
    status, activated = laptop.json("activate", make_code())
    assert status == 0

    ran = laptop.run("details", server=closed_server())

    assert ran.returncode == 0, ran.stderr
    assert activated["public_id"] in ran.stdout
    assert "License key:" in ran.stdout


def test_a_blocked_license_stays_not_valid_offline(
    laptop: Device, make_code: Callable[..., str], block_code: Callable[[str, str], None]
) -> None:
    code = make_code()
    assert laptop.run("activate", code).returncode == 0
    block_code(code, "refund")
    assert laptop.run("status").returncode == 4

    ran = laptop.run("status", "--json", server=closed_server())

    assert ran.returncode == 4, ran.stderr
    shown = json.loads(ran.stdout)
    assert (shown["valid"], shown["status"]) == (False, "blocked")
    assert laptop.run("details", server=closed_server()).returncode == 0


def test_a_usage_error_under_json_prints_the_error_object(laptop: Device) -> None:
    ran = laptop.run("activate", "--json")

    assert ran.returncode == 2
    refusal = json.loads(ran.stdout)
    assert (refusal["error"], refusal["exit_status"]) == ("usage", 2)
    assert "CODE" in refusal["message"]


def test_recover_without_a_license_says_so_before_asking_a_password(laptop: Device) -> None:
    ran = laptop.run("recover", "--email", "someone@example.com")

    assert ran.returncode == 14
    assert "LICENSOR_PASSWORD" not in ran.stderr
