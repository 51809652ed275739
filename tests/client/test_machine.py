"""Which identity names this machine, and whether it outlives reinstalling the system."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from licensor_client import _machine, this_machine
from licensor_client._sealing import seal, unseal

FIRMWARE_UUID = "4c4c4544-0042-3510-8057-b4c04f4a3732"
MACHINE_ID = "0f6b3c7e1a9d4e2b8c5f7a1d3e9b6c20"


def fake_interface(
    root: Path, name: str, address: str, *, assign_type: str = "0", hardware: bool = True
) -> None:
    interface = root / name
    interface.mkdir(parents=True)
    (interface / "address").write_text(address + "\n")
    (interface / "addr_assign_type").write_text(assign_type + "\n")
    if hardware:
        (interface / "device").mkdir()


@pytest.fixture
def sys_class_net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "sys-class-net"
    root.mkdir()
    monkeypatch.setattr(_machine, "SYS_CLASS_NET", root)
    monkeypatch.setattr(sys, "platform", "linux")
    return root


def identities(
    monkeypatch: pytest.MonkeyPatch,
    *,
    firmware: str | None = None,
    card: str | None = None,
    os_id: str | None = None,
) -> None:
    monkeypatch.delenv("LICENSOR_FINGERPRINT", raising=False)
    monkeypatch.setattr(_machine, "_firmware_uuid", lambda: firmware)
    monkeypatch.setattr(_machine, "_network_card_identity", lambda: card)
    monkeypatch.setattr(_machine, "_os_identity", lambda: os_id)
    monkeypatch.setattr(_machine, "_network_identity", lambda: None)


def test_the_permanent_address_of_the_first_physical_card_is_read(sys_class_net: Path) -> None:
    fake_interface(sys_class_net, "lo", "00:00:00:00:00:00", hardware=False)
    fake_interface(sys_class_net, "docker0", "02:42:ac:11:00:02", assign_type="3", hardware=False)
    fake_interface(sys_class_net, "br0", "3c:7c:3f:11:22:33", hardware=False)  # a bridge
    fake_interface(sys_class_net, "enp0s1", "de:ad:be:ef:00:01")  # locally administered
    fake_interface(sys_class_net, "enp1s0", "01:00:5e:00:00:01")  # multicast
    fake_interface(sys_class_net, "enp2s0", "f8:75:a4:aa:bb:01", assign_type="1")  # random
    fake_interface(sys_class_net, "wlp3s0", "A4:C3:F0:12:34:56")
    fake_interface(sys_class_net, "wlp9s0", "a4:c3:f0:99:99:99")

    assert _machine._network_card_identity() == "a4:c3:f0:12:34:56"


def test_no_physical_card_means_no_card_identity(sys_class_net: Path) -> None:
    fake_interface(sys_class_net, "lo", "00:00:00:00:00:00", hardware=False)
    fake_interface(sys_class_net, "veth1", "3c:7c:3f:11:22:33", hardware=False)
    assert _machine._network_card_identity() is None


def test_after_the_firmware_a_physical_card_comes_before_the_os_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identities(monkeypatch, firmware=FIRMWARE_UUID, card="a4:c3:f0:12:34:56", os_id=MACHINE_ID)
    firmware = this_machine("antivirus", tmp_path)
    assert (firmware.source, firmware.survives_reinstall) == ("firmware", True)

    identities(monkeypatch, card="a4:c3:f0:12:34:56", os_id=MACHINE_ID)
    card = this_machine("antivirus", tmp_path)
    assert (card.source, card.survives_reinstall) == ("network_card", True)

    identities(monkeypatch, card="a4:c3:f0:12:34:56", os_id="another-install-id")
    assert this_machine("antivirus", tmp_path).fingerprint == card.fingerprint  # reinstalled

    identities(monkeypatch, os_id=MACHINE_ID)
    installed = this_machine("antivirus", tmp_path)
    assert (installed.source, installed.survives_reinstall) == ("os", False)


def test_an_override_or_a_kept_random_id_does_not_survive_a_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not this_machine("antivirus", tmp_path, "vm-image-clone-0001").survives_reinstall
    identities(monkeypatch)
    kept = this_machine("antivirus", tmp_path)
    assert (kept.source, kept.survives_reinstall) == ("state", False)


# --- the parts sent beside the fingerprint ---------------------------------------------------


@pytest.fixture
def linux_sources(sys_class_net: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Linux machine's identities in test directories: firmware (root only, so absent
    unless written), a physical card, the OS's machine id, an NVMe disk, a CPU."""
    monkeypatch.delenv("LICENSOR_FINGERPRINT", raising=False)
    root = tmp_path / "sources"
    dmi, block = root / "dmi", root / "block"
    dmi.mkdir(parents=True)
    (block / "loop0").mkdir(parents=True)
    (block / "loop0" / "removable").write_text("0\n")
    (block / "loop0" / "wwid").write_text("not-a-disk\n")
    disk = block / "nvme0n1"
    (disk / "device").mkdir(parents=True)
    (disk / "removable").write_text("0\n")
    (disk / "device" / "serial").write_text("S4EWNX0R123456 \n")
    (root / "machine-id").write_text(MACHINE_ID + "\n")
    (root / "cpuinfo").write_text("processor\t: 0\nmodel name\t: AMD Ryzen 7 5800U\n")
    fake_interface(sys_class_net, "enp1s0", "a4:c3:f0:12:34:56")
    monkeypatch.setattr(_machine, "DMI_ID", dmi)
    monkeypatch.setattr(_machine, "SYS_BLOCK", block)
    monkeypatch.setattr(_machine, "MACHINE_ID_FILES", (root / "machine-id",))
    monkeypatch.setattr(_machine, "PROC_CPUINFO", root / "cpuinfo")
    return root


def _hashed(app_id: str, name: str, value: str) -> str:
    # Written out here as docs/protocol.md says it, not taken from the SDK.
    message = b"licensor-component/1\0" + app_id.encode() + b"\0" + name.encode() + b"\0"
    return hashlib.sha256(message + value.encode()).hexdigest()


def test_each_readable_part_is_sent_hashed_for_the_app(linux_sources: Path) -> None:
    machine = this_machine("antivirus", linux_sources)

    assert dict(machine.components) == {
        "network_card": _hashed("antivirus", "network_card", "a4:c3:f0:12:34:56"),
        "os": _hashed("antivirus", "os", MACHINE_ID),
        "disk": _hashed("antivirus", "disk", "S4EWNX0R123456"),
        "cpu": _hashed("antivirus", "cpu", "AMD Ryzen 7 5800U"),
    }
    # Another vendor's app on the same machine sends parts nobody can correlate.
    other = this_machine("photo-editor", linux_sources).components
    assert not set(other.values()) & set(machine.components.values())


def test_firmware_and_board_are_parts_where_readable(linux_sources: Path) -> None:
    (linux_sources / "dmi" / "product_uuid").write_text(FIRMWARE_UUID.upper() + "\n")
    (linux_sources / "dmi" / "board_serial").write_text("To be filled by O.E.M.\n")
    (linux_sources / "dmi" / "product_serial").write_text("PF2ABCDE\n")

    parts = this_machine("antivirus", linux_sources).components

    assert parts["firmware"] == _hashed("antivirus", "firmware", FIRMWARE_UUID)
    assert parts["board"] == _hashed("antivirus", "board", "PF2ABCDE")
    assert len(parts) == 6


def test_a_new_network_card_changes_one_part_only(linux_sources: Path, sys_class_net: Path) -> None:
    before = this_machine("antivirus", linux_sources)
    shutil.rmtree(sys_class_net / "enp1s0")
    fake_interface(sys_class_net, "enp1s0", "3c:7c:3f:aa:bb:cc")

    after = this_machine("antivirus", linux_sources)

    assert after.fingerprint != before.fingerprint  # the card was its identity
    changed = {
        name for name in before.components if before.components[name] != after.components[name]
    }
    assert changed == {"network_card"}


def test_an_override_sends_no_parts(linux_sources: Path) -> None:
    assert this_machine("antivirus", linux_sources, "vm-image-clone-0001").components == {}


def test_the_fingerprint_and_sealing_key_are_made_as_before_the_parts(
    linux_sources: Path,
) -> None:
    """An installation from before the parts keeps its seat and opens its backups: the
    fingerprint and the sealing key come from the same identity, the same way."""
    machine = this_machine("antivirus", linux_sources)
    identity = b"a4:c3:f0:12:34:56"
    assert (
        machine.fingerprint
        == hashlib.sha256(b"licensor-fingerprint/1\0antivirus\0" + identity).hexdigest()
    )
    sealing_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"antivirus", info=b"licensor-seal/1"
    ).derive(identity)
    assert machine.sealing_key == sealing_key
    # A code sealed by an installation of before opens with the key derived now.
    sealed_before = seal("6JPET-26GV0-A08J5-BT3ZX", sealing_key, b"context")
    assert unseal(sealed_before, machine.sealing_key, b"context") == "6JPET-26GV0-A08J5-BT3ZX"
