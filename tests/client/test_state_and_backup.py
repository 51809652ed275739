"""The license backup (F9) as a file: what it holds, how its code is sealed, and what
``import_backup`` refuses (damaged, foreign, another machine, another license's code)."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from licensor_client import (
    BackupConflict,
    BackupError,
    BackupLocked,
    LicenseClient,
    LicenseNotActive,
    NetworkError,
    SignatureInvalid,
)
from tests.client.conftest import (
    CODE,
    FINGERPRINT,
    LICENSE_KEY,
    OFFLINE_DAYS,
    OTHER_FINGERPRINT,
    DeviceClock,
    FakeServer,
    MakeClient,
    Signer,
)

PASSPHRASE = "blue heron at dawn"
OTHER_CODE = "1BH8Z-KT0QH-79DFN-M2JCS"
OTHER_LICENSE_KEY = "0D4A7C2E19B84F6A8C3E5D7B9A1F2C36"


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read(path: Path) -> dict[str, Any]:
    backup: dict[str, Any] = json.loads(path.read_text())
    return backup


def write(path: Path, backup: dict[str, Any]) -> Path:
    path.write_text(json.dumps(backup))
    return path


@pytest.fixture
def laptop(make_client: MakeClient) -> LicenseClient:
    """A device with the license activated."""
    client = make_client()
    client.activate(CODE)
    return client


# --- the file -----------------------------------------------------------------------------


def test_a_backup_holds_the_signed_license_and_no_code_in_clear(
    laptop: LicenseClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup", PASSPHRASE)
    content = path.read_bytes()
    compact = CODE.replace("-", "")
    for form in (CODE, compact, CODE.lower(), compact.lower()):
        assert form.encode() not in content
    assert base64.b64encode(compact.encode()) not in content
    assert PASSPHRASE.encode() not in content

    backup = read(path)
    assert backup["format"] == "licensor-backup/1"
    assert backup["license_file"] == fake_server.license_file(FINGERPRINT)
    assert set(backup["code"]) == {"machine", "passphrase"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_without_a_passphrase_the_code_is_sealed_to_the_machine_only(
    laptop: LicenseClient, tmp_path: Path
) -> None:
    backup = read(laptop.export_backup(tmp_path / "license.backup"))
    assert set(backup["code"]) == {"machine"}
    assert "kdf" not in backup["code"]["machine"]


def test_the_passphrase_envelope_is_scrypt_then_aes_gcm_bound_to_the_license_key(
    laptop: LicenseClient, tmp_path: Path
) -> None:
    envelope = read(laptop.export_backup(tmp_path / "license.backup", PASSPHRASE))["code"][
        "passphrase"
    ]
    kdf = envelope["kdf"]
    assert kdf["name"] == "scrypt"
    assert kdf["n"] >= 2**15  # memory-hard enough to slow guessing from a stolen file
    assert kdf["r"] >= 8
    salt = b64url_decode(kdf["salt"])
    assert len(salt) >= 16

    key = Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
        PASSPHRASE.encode()
    )
    associated = b"licensor-backup/1\0" + LICENSE_KEY.encode()
    opened = AESGCM(key).decrypt(
        b64url_decode(envelope["nonce"]), b64url_decode(envelope["ciphertext"]), associated
    )
    assert opened.decode() == CODE


def test_each_backup_is_sealed_afresh(laptop: LicenseClient, tmp_path: Path) -> None:
    first = read(laptop.export_backup(tmp_path / "one", PASSPHRASE))["code"]
    second = read(laptop.export_backup(tmp_path / "two", PASSPHRASE))["code"]
    assert first["machine"]["nonce"] != second["machine"]["nonce"]
    assert first["passphrase"]["kdf"]["salt"] != second["passphrase"]["kdf"]["salt"]
    assert first["passphrase"]["ciphertext"] != second["passphrase"]["ciphertext"]


# --- restoring ----------------------------------------------------------------------------


def test_the_machine_that_made_it_restores_it_without_a_new_activation(
    laptop: LicenseClient, make_client: MakeClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup")
    laptop.forget()
    restored = make_client(state_dir=tmp_path / "reinstalled").import_backup(path)
    assert (restored.valid, restored.source, restored.has_code) == (True, "online", True)
    assert len(fake_server.sent("/api/v1/activations")) == 1  # only the first one

    fake_server.error = httpx.ConnectError("no network")
    offline = make_client(state_dir=tmp_path / "offline").import_backup(path)
    assert (offline.valid, offline.source, offline.has_code) == (True, "offline", True)


def test_a_released_seat_is_taken_again_with_the_sealed_code(
    laptop: LicenseClient, make_client: MakeClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup")
    fake_server.status = "released"
    activations = fake_server.routes["POST", "/api/v1/activations"]

    def activate(request: httpx.Request) -> httpx.Response:
        fake_server.status = "active"
        return activations(request)

    fake_server.routes["POST", "/api/v1/activations"] = activate
    assert make_client(state_dir=tmp_path / "reinstalled").import_backup(path).valid
    assert [body["activation_code"] for body in fake_server.sent("/api/v1/activations")] == [
        CODE,
        CODE,
    ]


def test_another_machine_restores_with_the_passphrase_only(
    laptop: LicenseClient, make_client: MakeClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup", PASSPHRASE)
    desktop = make_client(state_dir=tmp_path / "desktop", fingerprint=OTHER_FINGERPRINT)
    with pytest.raises(BackupLocked) as needed:
        desktop.import_backup(path)
    assert needed.value.reason == "passphrase_needed"
    with pytest.raises(BackupLocked) as wrong:
        desktop.import_backup(path, "blue heron at dusk")
    assert wrong.value.reason == "passphrase_wrong"
    assert not desktop.has_license()

    info = desktop.import_backup(path, PASSPHRASE)
    assert info.valid
    assert fake_server.sent("/api/v1/activations")[-1] == {
        "activation_code": CODE,
        "device": {
            "fingerprint": OTHER_FINGERPRINT,
            "name": desktop.device_name,
            "platform": desktop.machine.platform,
            "key": desktop.device_public_key,
        },
    }


def test_a_backup_without_a_passphrase_opens_on_its_own_machine_only(
    laptop: LicenseClient, make_client: MakeClient, tmp_path: Path
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup")
    with pytest.raises(BackupLocked, match="without a passphrase") as locked:
        make_client(state_dir=tmp_path / "desktop", fingerprint=OTHER_FINGERPRINT).import_backup(
            path
        )
    assert locked.value.reason == "no_passphrase"


def test_on_its_own_machine_a_backup_opens_whatever_passphrase_is_typed(
    laptop: LicenseClient, make_client: MakeClient, tmp_path: Path
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup", PASSPHRASE)
    laptop.forget()

    info = make_client().import_backup(path, "not the passphrase")

    assert info.valid
    assert make_client().details().has_code


# --- what is refused ----------------------------------------------------------------------


def _damage(backup: dict[str, Any], how: str) -> dict[str, Any] | str:
    payload = backup["license_file"]["payload"]
    machine = backup["code"]["machine"]
    phrase = backup["code"]["passphrase"]
    changes: dict[str, dict[str, Any] | str] = {
        "not-json": "license backup",
        "a-list": "[]",
        "no-format": {key: value for key, value in backup.items() if key != "format"},
        "newer-format": {**backup, "format": "licensor-backup/2"},
        "a-license-file": backup["license_file"],
        "tampered-license": {
            **backup,
            "license_file": {
                **backup["license_file"],
                "payload": {**payload, "fingerprint": OTHER_FINGERPRINT},
            },
        },
        "no-license": {**backup, "license_file": None},
        "code-not-an-object": {**backup, "code": "sealed"},
        "sealed-code-not-base64": {
            **backup,
            "code": {"machine": {**machine, "nonce": "%%%"}, "passphrase": phrase},
        },
        "sealed-code-missing-fields": {**backup, "code": {"machine": {"nonce": "AAAA"}}},
        "sealed-code-short-nonce": {
            **backup,
            "code": {"machine": {**machine, "nonce": "AAAA"}, "passphrase": phrase},
        },
        "unknown-kdf": {
            **backup,
            "code": {"machine": machine, "passphrase": {**phrase, "kdf": {"name": "rot13"}}},
        },
        "kdf-out-of-range": {
            **backup,
            "code": {
                "machine": machine,
                "passphrase": {**phrase, "kdf": {**phrase["kdf"], "n": 2**30}},
            },
        },
        "kdf-not-a-power-of-two": {
            **backup,
            "code": {
                "machine": machine,
                "passphrase": {**phrase, "kdf": {**phrase["kdf"], "n": 2**15 + 1}},
            },
        },
    }
    return changes[how]


@pytest.mark.parametrize(
    "how",
    [
        "not-json",
        "a-list",
        "no-format",
        "newer-format",
        "a-license-file",
        "tampered-license",
        "no-license",
        "code-not-an-object",
        "sealed-code-not-base64",
        "sealed-code-missing-fields",
        "sealed-code-short-nonce",
        "unknown-kdf",
        "kdf-out-of-range",
        "kdf-not-a-power-of-two",
    ],
)
def test_a_damaged_or_foreign_file_is_a_backup_error(
    laptop: LicenseClient, make_client: MakeClient, tmp_path: Path, how: str
) -> None:
    backup = read(laptop.export_backup(tmp_path / "license.backup", PASSPHRASE))
    damaged = _damage(backup, how)
    path = tmp_path / "damaged.backup"
    path.write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    passphrase = PASSPHRASE if "kdf" in how else None
    # A passphrase is only tried where the machine seal does not open: on another machine.
    elsewhere = {"fingerprint": "another-machine-0123456789"} if passphrase else {}
    restoring = make_client(state_dir=tmp_path / "reinstalled", **elsewhere)
    with pytest.raises(BackupError):
        restoring.import_backup(path, passphrase)
    assert not restoring.has_license()


def test_a_missing_or_binary_file_is_a_backup_error(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client()
    with pytest.raises(BackupError):
        client.import_backup(tmp_path / "nothing-here.backup")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01")
    with pytest.raises(BackupError):
        client.import_backup(tmp_path / "photo.jpg")


def test_a_backup_from_another_vendor_is_refused(
    make_client: MakeClient, device_clock: DeviceClock, tmp_path: Path
) -> None:
    other_vendor = Signer()
    other_server = FakeServer(other_vendor, device_clock)
    theirs = make_client(
        state_dir=tmp_path / "theirs",
        public_keys=other_vendor.pinned,
        transport=other_server.transport,
    )
    theirs.activate(CODE)
    path = theirs.export_backup(tmp_path / "theirs.backup")
    with pytest.raises(BackupError):
        make_client(state_dir=tmp_path / "ours").import_backup(path)


def _backup_of_another_license(
    make_client: MakeClient, fake_server: FakeServer, tmp_path: Path
) -> dict[str, Any]:
    fake_server.license_key = OTHER_LICENSE_KEY
    other = make_client(state_dir=tmp_path / "other-license")
    other.activate(OTHER_CODE)
    fake_server.license_key = LICENSE_KEY
    return read(other.export_backup(tmp_path / "other.backup", PASSPHRASE))


def test_another_licenses_sealed_code_cannot_be_swapped_into_a_backup(
    laptop: LicenseClient, make_client: MakeClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    other = _backup_of_another_license(make_client, fake_server, tmp_path)
    ours = read(laptop.export_backup(tmp_path / "ours.backup", PASSPHRASE))
    swapped = write(tmp_path / "swapped.backup", {**ours, "code": other["code"]})

    # Same machine, same passphrase, but the code was sealed for the other license key.
    with pytest.raises(BackupLocked):
        make_client(state_dir=tmp_path / "restore-1").import_backup(swapped)
    with pytest.raises(BackupLocked):
        make_client(state_dir=tmp_path / "restore-2").import_backup(swapped, PASSPHRASE)
    with pytest.raises(BackupLocked):
        make_client(state_dir=tmp_path / "restore-3", fingerprint=OTHER_FINGERPRINT).import_backup(
            swapped, PASSPHRASE
        )
    assert len(fake_server.sent("/api/v1/activations")) == 2  # ours and the other's only


def test_another_licenses_sealed_code_cannot_be_swapped_into_the_state(
    laptop: LicenseClient,
    make_client: MakeClient,
    fake_server: FakeServer,
    state_dir: Path,
    tmp_path: Path,
) -> None:
    fake_server.license_key = OTHER_LICENSE_KEY
    other = make_client(state_dir=tmp_path / "other-license")
    other.activate(OTHER_CODE)
    other_state = json.loads((tmp_path / "other-license" / "license.json").read_text())

    state = json.loads((state_dir / "license.json").read_text())
    (state_dir / "license.json").write_text(json.dumps({**state, "code": other_state["code"]}))
    with pytest.raises(BackupLocked):
        laptop.export_backup(tmp_path / "ours.backup")


# --- restoring checks before it saves -----------------------------------------------------


def test_a_backup_that_cannot_be_checked_leaves_nothing_behind(
    laptop: LicenseClient,
    make_client: MakeClient,
    fake_server: FakeServer,
    device_clock: DeviceClock,
    tmp_path: Path,
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup")
    device_clock.advance(timedelta(days=OFFLINE_DAYS + 1))  # the file no longer holds offline
    fake_server.error = httpx.ConnectError("no network")
    restoring = make_client(state_dir=tmp_path / "reinstalled")

    with pytest.raises(NetworkError, match="out of date offline"):
        restoring.import_backup(path)

    assert not restoring.has_license()


def test_restoring_an_older_backup_of_the_same_license_keeps_the_newer_file(
    laptop: LicenseClient,
    make_client: MakeClient,
    fake_server: FakeServer,
    device_clock: DeviceClock,
    state_dir: Path,
    tmp_path: Path,
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup")
    device_clock.advance(timedelta(days=2))
    laptop.status()  # a newer file
    newer = read(state_dir / "license.json")["license_file"]
    # Lose the sealed code here: the backup brings it back, and nothing else.
    state = read(state_dir / "license.json")
    del state["code"]
    write(state_dir / "license.json", state)

    fake_server.error = httpx.ConnectError("no network")
    restored = laptop.import_backup(path)

    assert (restored.valid, restored.source, restored.has_code) == (True, "offline", True)
    assert read(state_dir / "license.json")["license_file"] == newer


def test_restoring_keeps_a_refusal_the_server_signed_since_the_backup(
    laptop: LicenseClient,
    make_client: MakeClient,
    fake_server: FakeServer,
    device_clock: DeviceClock,
    tmp_path: Path,
) -> None:
    path = laptop.export_backup(tmp_path / "license.backup")
    device_clock.advance(timedelta(hours=1))
    fake_server.status = "blocked"
    laptop.status()

    fake_server.error = httpx.ConnectError("no network")  # an old backup is no way around it
    with pytest.raises(LicenseNotActive):
        laptop.import_backup(path)
    assert laptop.details().status == "blocked"


def test_a_backup_does_not_replace_another_license_still_valid_here_unless_asked(
    laptop: LicenseClient, make_client: MakeClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    _backup_of_another_license(make_client, fake_server, tmp_path)
    other = tmp_path / "other.backup"

    fake_server.license_key = OTHER_LICENSE_KEY
    with pytest.raises(BackupConflict, match="another license") as refused:
        laptop.import_backup(other)
    assert isinstance(refused.value, BackupError)
    assert laptop.details().license_key == LICENSE_KEY

    assert laptop.import_backup(other, replace=True).license_key == OTHER_LICENSE_KEY
    assert laptop.details().license_key == OTHER_LICENSE_KEY


def test_a_backup_replaces_a_license_that_no_longer_counts_here(
    laptop: LicenseClient, make_client: MakeClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    _backup_of_another_license(make_client, fake_server, tmp_path)
    fake_server.status = "released"
    laptop.status()  # released elsewhere (My Account → Devices)

    fake_server.status, fake_server.license_key = "active", OTHER_LICENSE_KEY
    assert laptop.import_backup(tmp_path / "other.backup").license_key == OTHER_LICENSE_KEY


# --- the keys travel with the backup ------------------------------------------------------


def test_a_backup_carries_the_pinned_keys(
    laptop: LicenseClient, signer: Signer, tmp_path: Path
) -> None:
    backup = read(laptop.export_backup(tmp_path / "license.backup"))
    assert backup["public_keys"] == {signer.key_id: signer.public_key}


def test_a_trust_on_first_use_install_restores_offline_with_the_backups_keys(
    make_client: MakeClient, fake_server: FakeServer, signer: Signer, tmp_path: Path
) -> None:
    before = make_client(public_keys=None, state_dir=tmp_path / "before")
    before.activate(CODE)
    path = before.export_backup(tmp_path / "license.backup")

    fake_server.error = httpx.ConnectError("no network")  # reinstalled, and offline
    after = make_client(public_keys=None, state_dir=tmp_path / "after")
    restored = after.import_backup(path)

    assert (restored.valid, restored.source) == (True, "offline")
    assert (tmp_path / "after" / "signing-keys").read_text().strip() == signer.pinned
    assert make_client(public_keys=None, state_dir=tmp_path / "after").validate_offline().valid


def test_keys_in_a_backup_are_not_pinned_unless_its_license_file_verifies_with_them(
    make_client: MakeClient, fake_server: FakeServer, tmp_path: Path
) -> None:
    before = make_client(public_keys=None, state_dir=tmp_path / "before")
    before.activate(CODE)
    path = before.export_backup(tmp_path / "license.backup")
    backup = read(path)
    write(path, {**backup, "public_keys": {"k9": Signer("k9").public_key}})

    fake_server.error = httpx.ConnectError("no network")
    after = make_client(public_keys=None, state_dir=tmp_path / "after")
    with pytest.raises(NetworkError):  # no usable keys: the server's are needed
        after.import_backup(path)
    assert not (tmp_path / "after" / "signing-keys").exists()
    assert not after.has_license()


def test_a_forged_backup_with_its_own_keys_is_refused_online_and_pins_nothing(
    make_client: MakeClient, device_clock: DeviceClock, tmp_path: Path
) -> None:
    forger = Signer()
    forged = make_client(
        state_dir=tmp_path / "forged",
        public_keys=forger.pinned,
        transport=FakeServer(forger, device_clock).transport,
    )
    forged.activate(CODE)
    path = forged.export_backup(tmp_path / "forged.backup")

    restoring = make_client(public_keys=None, state_dir=tmp_path / "reinstalled")
    with pytest.raises(SignatureInvalid):  # the real server's answer does not verify
        restoring.import_backup(path)
    assert not (tmp_path / "reinstalled" / "signing-keys").exists()
    assert not restoring.has_license()


# --- the passphrase -----------------------------------------------------------------------


def test_an_empty_passphrase_is_refused_and_nothing_is_saved(
    laptop: LicenseClient, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="passphrase"):
        laptop.export_backup(tmp_path / "license.backup", "")
    assert not (tmp_path / "license.backup").exists()


def test_the_passphrase_is_stretched_with_scrypt_n_2_17(
    laptop: LicenseClient, tmp_path: Path
) -> None:
    kdf = read(laptop.export_backup(tmp_path / "license.backup", PASSPHRASE))["code"]["passphrase"][
        "kdf"
    ]
    assert (kdf["n"], kdf["r"], kdf["p"]) == (2**17, 8, 1)


def test_a_backup_made_with_the_old_scrypt_cost_still_opens(
    laptop: LicenseClient,
    make_client: MakeClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("licensor_client._sealing.SCRYPT_N", 2**15)
    path = laptop.export_backup(tmp_path / "license.backup", PASSPHRASE)
    monkeypatch.undo()
    assert read(path)["code"]["passphrase"]["kdf"]["n"] == 2**15

    desktop = make_client(state_dir=tmp_path / "desktop", fingerprint=OTHER_FINGERPRINT)
    assert desktop.import_backup(path, PASSPHRASE).valid


# --- the state directory ------------------------------------------------------------------


def test_state_that_cannot_be_read_is_an_error_not_an_absent_license(
    make_client: MakeClient, state_dir: Path
) -> None:
    (state_dir / "license.json").mkdir(parents=True)  # or unreadable, or a failing disk
    client = make_client()
    with pytest.raises(IsADirectoryError):
        client.has_license()
    with pytest.raises(IsADirectoryError):
        client.status()


def test_state_that_is_not_json_is_no_license(make_client: MakeClient, state_dir: Path) -> None:
    state_dir.mkdir()
    (state_dir / "license.json").write_bytes(b"\xff\xfe not json")
    assert not make_client().has_license()


def test_forgetting_the_license_is_made_durable(
    laptop: LicenseClient, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(handle: int) -> None:
        synced.append(handle)
        real_fsync(handle)

    monkeypatch.setattr(os, "fsync", fsync)
    laptop.forget()
    assert not (state_dir / "license.json").exists()
    assert len(synced) == 1  # the directory, so the unlink survives a crash
