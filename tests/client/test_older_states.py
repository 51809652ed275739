"""An app updated in place reads what the previous version left on disk.

``data/0.1.0/`` holds state directories (``license.json`` and the pinned
``signing-keys``) and a backup exactly as licensor_client 0.1.0 wrote them, with a
vendor key made from ``SEED`` and the unit tests' clock, device and code: activated and
checked online an hour later (``activated``), refused by the server a day after
(``refused``, its signed verdict kept), and restored offline from the backup after the
whole state was wiped (``restored``). The backup has a passphrase (scrypt n=2**10, so it
opens quickly). These files are never regenerated: they are the older version's word.
And the other way: what a newer version adds is kept, what is damaged reads as unknown.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor_client import LicenseClient, LicenseNotActive
from licensor_client._state import StateStore
from tests.client.conftest import (
    CODE,
    FINGERPRINT,
    NOW,
    OTHER_FINGERPRINT,
    PUBLIC_ID,
    DeviceClock,
    FakeServer,
    Signer,
)

SEED = bytes.fromhex("67f07f4f76c5e8a383ffed363f71ed06810ec572d997755f4c8a1e179eab00a2")
OLDER = Path(__file__).parent / "data" / "0.1.0"
PASSPHRASE = "blue heron at dawn"


@pytest.fixture
def device_clock() -> DeviceClock:
    return DeviceClock(NOW + timedelta(days=2))


@pytest.fixture
def fake_server(device_clock: DeviceClock) -> FakeServer:
    return FakeServer(Signer(private_key=SEED), device_clock)


def older_state(name: str, tmp_path: Path) -> Path:
    """A copy of the state directory ``name`` as 0.1.0 left it."""
    return Path(shutil.copytree(OLDER / name, tmp_path / name))


def client_on(
    state_dir: Path,
    fake_server: FakeServer,
    device_clock: DeviceClock,
    fingerprint: str = FINGERPRINT,
) -> LicenseClient:
    """The updated app on that state: no keys given, so it trusts the ones pinned there."""
    return LicenseClient(
        "https://licensing.example.com",
        None,
        state_dir=state_dir,
        fingerprint=fingerprint,
        transport=fake_server.transport,
        clock=device_clock,
    )


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.mark.parametrize("name", ["activated", "refused", "restored"])
def test_a_state_written_by_0_1_0_is_read_and_written_back_byte_for_byte(
    name: str, tmp_path: Path
) -> None:
    store = StateStore(older_state(name, tmp_path))
    written = store.license_path.read_bytes()

    state = store.load()
    assert state is not None
    store.save(state)

    assert store.license_path.read_bytes() == written


def test_an_activated_state_from_0_1_0_still_checks_offline_online_and_backs_up(
    tmp_path: Path, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    with client_on(older_state("activated", tmp_path), fake_server, device_clock) as client:
        details = client.details()
        assert (details.public_id, details.plan, details.status) == (PUBLIC_ID, "plus", "active")
        assert (details.valid, details.devices_used, details.has_code) == (True, 1, True)
        assert details.checked_at == NOW + timedelta(hours=1)
        assert details.source == "stored"

        assert client.validate_offline().valid

        checked = client.status()
        assert (checked.source, checked.valid, checked.checked_at) == (
            "online",
            True,
            device_clock.now,
        )

        # The code sealed by 0.1.0 opens: the backup carries it, sealed to this machine.
        backup = read(client.export_backup(tmp_path / "license.backup"))
        assert set(backup["code"]) == {"machine"}


def test_a_refusal_kept_by_0_1_0_still_counts_offline(
    tmp_path: Path, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    with client_on(older_state("refused", tmp_path), fake_server, device_clock) as client:
        details = client.details()
        assert (details.status, details.valid) == ("blocked", False)

        with pytest.raises(LicenseNotActive) as refused:
            client.validate_offline()
        assert refused.value.status == "blocked"


def test_a_state_0_1_0_restored_offline_shows_no_device_count_until_checked(
    tmp_path: Path, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    with client_on(older_state("restored", tmp_path), fake_server, device_clock) as client:
        details = client.details()
        assert (details.valid, details.devices_used, details.checked_at) == (True, None, None)
        assert details.has_code

        assert client.status().devices_used == 1


def test_a_backup_from_0_1_0_restores_here_offline_and_elsewhere_with_its_passphrase(
    tmp_path: Path, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    fake_server.error = httpx.ConnectError("offline")
    with client_on(tmp_path / "reinstalled", fake_server, device_clock) as client:
        restored = client.import_backup(OLDER / "license.backup")
        assert (restored.public_id, restored.source, restored.valid) == (PUBLIC_ID, "offline", True)
        assert restored.has_code

    fake_server.error = None
    elsewhere = client_on(tmp_path / "desktop", fake_server, device_clock, OTHER_FINGERPRINT)
    with elsewhere as client:
        moved = client.import_backup(OLDER / "license.backup", PASSPHRASE)
        assert (moved.source, moved.valid) == ("online", True)
    assert fake_server.sent("/api/v1/activations")[-1]["activation_code"] == CODE


def test_fields_a_newer_version_wrote_are_kept_when_this_one_saves(
    tmp_path: Path, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    state_dir = older_state("activated", tmp_path)
    path = state_dir / "license.json"
    path.write_text(json.dumps({**read(path), "renewal_hint": {"days": 30}}))

    with client_on(state_dir, fake_server, device_clock) as client:
        client.status()
        device_clock.advance(timedelta(hours=1))
        client.validate_offline()  # saves how late the clock has been

    assert read(path)["renewal_hint"] == {"days": 30}
    assert read(path)["checked_at"] == "2026-11-24T03:02:03Z"


def test_a_state_field_of_the_wrong_type_reads_as_unknown(
    tmp_path: Path, fake_server: FakeServer, device_clock: DeviceClock
) -> None:
    state_dir = older_state("activated", tmp_path)
    path = state_dir / "license.json"
    damaged = {"devices_used": "three", "checked_at": "yesterday", "valid": "yes", "code": "x"}
    path.write_text(json.dumps({**read(path), **damaged}))

    with client_on(state_dir, fake_server, device_clock) as client:
        details = client.details()
        assert (details.devices_used, details.checked_at) == (None, None)
        assert (details.valid, details.has_code) == (False, False)
        # The signed license file still decides offline.
        assert client.validate_offline().valid
