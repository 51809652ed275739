"""Moving a license: a backup across an OS reinstall keeps the same seat (F9), a
passphrase takes it to another computer, and Remove license frees the seat for another
device (F8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.app.conftest import MakeMachine
from tests.app.screens import (
    SIZE,
    activate,
    click,
    fill,
    message,
    open_licensing,
    settle,
    shown,
    text,
    window,
)
from tests.licensing.factories import MakeCode, seats_used

pytestmark = pytest.mark.anyio


async def test_backup_then_reinstall_then_restore_keeps_the_same_seat(
    machine: MakeMachine, make_code: MakeCode, api: httpx.Client, tmp_path: Path
) -> None:
    backup = tmp_path / "usb" / "license-backup.json"
    before = machine("pc")
    async with before.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code("plus", devices_max=3))
        await click(pilot, "#save-backup")
        assert window(pilot) == "Save license backup"
        assert pilot.app.screen.query_one("#backup-path").value.endswith(  # type: ignore[attr-defined]
            "license-backup.json"
        )
        fill(pilot, "#backup-path", str(backup))
        await click(pilot, "#save")

        assert window(pilot) == "Licensing"
        assert message(pilot).startswith(f"License backup saved to {backup}.")
    license_key = before.client.details().license_key
    assert backup.is_file()

    shutil.rmtree(before.client.state_dir)  # the operating system is reinstalled

    after = machine("pc")
    async with after.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert text(pilot, "#summary") == "There is no license on this device."
        await click(pilot, "#license")
        await click(pilot, "#restore-license")
        assert window(pilot) == "Restore license"
        fill(pilot, "#restore-path", str(backup))
        await click(pilot, "#restore")

        assert message(pilot) == "The license was restored on this device."
        assert text(pilot, "#status") == "Active"
        assert text(pilot, "#devices") == "1 of 3"
    assert after.client.fingerprint == before.client.fingerprint
    assert seats_used(api, license_key, after.client.fingerprint) == 1


async def test_a_backup_moves_to_another_computer_only_with_its_passphrase(
    machine: MakeMachine, make_code: MakeCode, tmp_path: Path
) -> None:
    backup = tmp_path / "license-backup.json"
    async with machine("old").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code())
        await click(pilot, "#save-backup")
        fill(pilot, "#backup-path", str(backup))
        fill(pilot, "#backup-passphrase", "blue moon")
        await click(pilot, "#save")
        assert message(pilot).startswith("License backup saved to")

    async with machine("new").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await click(pilot, "#restore-license")
        fill(pilot, "#restore-path", str(backup))
        await click(pilot, "#restore")
        assert message(pilot).startswith(
            "This backup was saved on another computer. Enter the passphrase chosen"
        )

        fill(pilot, "#restore-passphrase", "red sun")
        await click(pilot, "#restore")
        assert message(pilot) == "This passphrase does not open the backup. Check it and try again."

        fill(pilot, "#restore-path", str(tmp_path / "nothing-here.json"))
        await click(pilot, "#restore")
        assert message(pilot) == "This file is not a license backup, or it is damaged."

        fill(pilot, "#restore-path", str(backup))
        fill(pilot, "#restore-passphrase", "blue moon")
        await click(pilot, "#restore")
        assert window(pilot) == "Licensing"
        assert text(pilot, "#devices") == "2 of 3"


async def test_remove_license_then_activate_on_another_device(
    machine: MakeMachine, make_code: MakeCode, api: httpx.Client
) -> None:
    code = make_code("single", devices_max=1)
    old = machine("old")
    async with old.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
        assert text(pilot, "#devices") == "1 of 1"
    license_key = old.client.details().license_key

    async with machine("new").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        said = await activate(pilot, code)
        assert said == (
            "This license is already in use on all the devices it allows. Remove it from "
            "another device (in the app on that device, or in My Account → Devices), then "
            "try again."
        )

    old = machine("old")  # the app opened again on the old computer
    async with old.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await click(pilot, "#remove-license")
        assert window(pilot) == "Remove license from this device"
        await click(pilot, "#cancel")
        assert window(pilot) == "Licensing"
        assert text(pilot, "#status") == "Active"

        await click(pilot, "#remove-license")
        await click(pilot, "#confirm-remove")

        assert window(pilot) == "Licensing"
        assert shown(pilot, "#no-license")
        assert message(pilot) == (
            "The license was removed from this device. It is now on 0 of 1 devices, so you "
            "can activate it on another one."
        )
    assert not old.client.has_license()

    new = machine("new")
    async with new.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        assert await activate(pilot, code) == "The license is active on this device."
        assert text(pilot, "#devices") == "1 of 1"
    assert seats_used(api, license_key, new.client.fingerprint) == 1
