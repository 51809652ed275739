"""Which identity names this machine, and whether it outlives reinstalling the system."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from licensor_client import _machine, this_machine

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
