"""Who this device is: a fingerprint for the server and a sealing key that never leaves it.

Both come from the machine's most durable identity the platform lets a user process read:
the firmware's system UUID first (it survives reinstalling the operating system, so a
reinstalled machine gets its own seat back); on Linux, where only root reads that UUID,
then the permanent address of a physical network card (it survives a reinstall too);
then the identity the OS keeps (machine-id, MachineGuid: a reinstall makes a new one);
then any network card's address; last a random id kept in the state directory. The
fingerprint is a hash of that identity scoped to the app, so two vendors' apps on one
machine cannot correlate their users; the sealing key is derived separately, so knowing
the fingerprint (the server does) does not open a backup sealed to the machine.

Beside the fingerprint the device sends its parts (``components``): each identity it could
read (firmware, network card, OS id, system disk, board serial, CPU model), hashed for the
app as the fingerprint is, so the server never sees a raw address or serial. A device
whose fingerprint changed with one part (a new network card) keeps its seat
(docs/client.md, "How a device is recognised"). The fingerprint and the sealing key are
made exactly as before the parts existed: an installation keeps its seat and its backups.

``LICENSOR_FINGERPRINT`` replaces the identity (virtual machines that clone one image,
tests); the fingerprint is then that value itself, and so is the sealing key's source:
the machine seal is no secret then. An override sends no parts.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from licensor_client._state import write_atomically

FINGERPRINT_ENV = "LICENSOR_FINGERPRINT"
_FINGERPRINT_PATTERN = re.compile(r"^[A-Za-z0-9_\-:.]{16,128}$")
_PLACEHOLDER_UUIDS = {
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",  # a common unset-firmware value
}


#: Where Linux lists network interfaces (a test points it elsewhere).
SYS_CLASS_NET = Path("/sys/class/net")
#: Where Linux tells the firmware's identities (the UUID and serials only to root).
DMI_ID = Path("/sys/class/dmi/id")
#: Where Linux lists block devices (the system disk's serial).
SYS_BLOCK = Path("/sys/block")
#: The OS's machine id on Linux, the first readable.
MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
#: The CPU's model on Linux.
PROC_CPUINFO = Path("/proc/cpuinfo")
#: Serials that firmware writers leave unset.
_PLACEHOLDER_SERIALS = {
    "",
    "0",
    "none",
    "default string",
    "to be filled by o.e.m.",
    "not specified",
    "system serial number",
    "0123456789",
}
#: Identities that outlive reinstalling the operating system.
DURABLE_SOURCES = ("firmware", "network_card")


@dataclass(frozen=True)
class Machine:
    fingerprint: str
    sealing_key: bytes = field(default=b"", repr=False)
    name: str = ""
    platform: str = ""
    #: Where the identity came from: override, firmware, network_card (a physical card's
    #: permanent address), os, network (any card's address) or state.
    source: str = ""
    #: The parts of the machine, each hashed for the app: ``{name: 64 hex digits}``
    #: (none for an override).
    components: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def survives_reinstall(self) -> bool:
        """Whether a reinstalled OS gives this machine the same fingerprint and sealing
        key, so a backup sealed to it opens again without a passphrase. Never for an
        override: it is kept in clear, so the machine seal is no secret."""
        return self.source in DURABLE_SOURCES


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def _firmware_uuid() -> str | None:
    if sys.platform.startswith("linux"):
        value = _read(str(DMI_ID / "product_uuid"))
    elif sys.platform == "darwin":
        value = _command(
            ["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"], r'"IOPlatformUUID" = "([^"]+)"'
        )
    elif sys.platform == "win32":
        value = _command(
            [
                "powershell",
                "-NoProfile",
                "-Command",
                "(Get-CimInstance Win32_ComputerSystemProduct).UUID",
            ],
            r"([0-9A-Fa-f-]{36})",
        )
    else:
        value = None
    if value and value.lower() not in _PLACEHOLDER_UUIDS:
        return value.lower()
    return None


def _os_identity() -> str | None:
    if sys.platform == "win32":
        try:
            import winreg

            with winreg.OpenKey(  # type: ignore[attr-defined,unused-ignore]
                winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined,unused-ignore]
                r"SOFTWARE\Microsoft\Cryptography",
            ) as key:
                value, _ = winreg.QueryValueEx(key, "MachineGuid")  # type: ignore[attr-defined,unused-ignore]
                return str(value)
        except OSError:
            return None
    for path in MACHINE_ID_FILES:
        value = _read(str(path))
        if value:
            return value
    return None


def _network_card_identity() -> str | None:
    """Linux: the permanent address of a physical network card (the lowest interface
    name), readable by any user. ``addr_assign_type`` 0 is a permanent address; a
    ``device`` link means real hardware, not a bridge, a VPN or a container's veth."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        interfaces = sorted(SYS_CLASS_NET.iterdir(), key=lambda path: path.name)
    except OSError:
        return None
    for interface in interfaces:
        if _read(str(interface / "addr_assign_type")) != "0":
            continue
        if not (interface / "device").exists():
            continue
        address = (_read(str(interface / "address")) or "").lower()
        if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", address):
            continue
        first_octet = int(address[:2], 16)
        # Locally administered (bit 1) addresses are made up; multicast (bit 0) are no card's.
        if first_octet & 0b11 or address == "00:00:00:00:00:00":
            continue
        return address
    return None


def _network_identity() -> str | None:
    node = uuid.getnode()
    # uuid falls back to a random number with the multicast bit set when it finds no card.
    return None if node >> 40 & 1 else f"{node:012x}"


def _command(arguments: list[str], pattern: str) -> str | None:
    try:
        output = subprocess.run(
            arguments, capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(pattern, output)
    return match.group(1) if match else None


def _state_identity(state_dir: Path) -> str:
    """Last resort: a random identity kept beside the license (lost with the state)."""
    path = state_dir / "device-id"
    existing = _read(str(path))
    if existing:
        return existing
    value = uuid.uuid4().hex
    write_atomically(path, (value + "\n").encode())  # the sealing key comes from it: 0600
    return value


def _durable_identity(state_dir: Path) -> tuple[str, str]:
    for source, read in (
        ("firmware", _firmware_uuid),
        ("network_card", _network_card_identity),
        ("os", _os_identity),
        ("network", _network_identity),
    ):
        identity = read()
        if identity:
            return source, identity
    return "state", _state_identity(state_dir)


def _disk_serial() -> str | None:
    """The serial of the first fixed disk (Linux: NVMe and SATA/SCSI disks say it to any
    user; loop, RAM, device-mapper and removable ones are skipped)."""
    if sys.platform.startswith("linux"):
        try:
            disks = sorted(SYS_BLOCK.iterdir(), key=lambda path: path.name)
        except OSError:
            return None
        for disk in disks:
            if disk.name.startswith(("loop", "ram", "zram", "dm-", "md", "sr", "fd")):
                continue
            if _read(str(disk / "removable")) != "0":
                continue
            for where in ("device/serial", "wwid", "device/wwid"):
                serial = _read(str(disk / where))
                if serial and serial.lower() not in _PLACEHOLDER_SERIALS:
                    return serial
        return None
    if sys.platform == "win32":
        return _command(
            [
                "powershell",
                "-NoProfile",
                "-Command",
                "(Get-CimInstance Win32_DiskDrive | Sort-Object Index | "
                "Select-Object -First 1).SerialNumber",
            ],
            r"(\S+)",
        )
    return None


def _board_serial() -> str | None:
    """The board's or system's serial: on Linux only root reads it; macOS tells anyone."""
    if sys.platform.startswith("linux"):
        serials = (_read(str(DMI_ID / name)) for name in ("board_serial", "product_serial"))
        value = next((v for v in serials if v and v.lower() not in _PLACEHOLDER_SERIALS), None)
    elif sys.platform == "darwin":
        value = _command(
            ["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
            r'"IOPlatformSerialNumber" = "([^"]+)"',
        )
    elif sys.platform == "win32":
        value = _command(
            [
                "powershell",
                "-NoProfile",
                "-Command",
                "(Get-CimInstance Win32_BaseBoard).SerialNumber",
            ],
            r"(\S+)",
        )
    else:
        value = None
    return value if value and value.strip().lower() not in _PLACEHOLDER_SERIALS else None


def _cpu_model() -> str | None:
    """The CPU's model: shared by many machines, so it is never the fingerprint, only one
    part beside the others (one part alike proves nothing: N-1 of N must be)."""
    if sys.platform.startswith("linux"):
        try:
            for line in PROC_CPUINFO.read_text().splitlines():
                name, _, value = line.partition(":")
                if name.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
        except OSError:
            return None
        return None
    return platform.processor() or None


#: The parts of a machine, in the order docs/protocol.md lists them.
COMPONENT_SOURCES: tuple[tuple[str, Callable[[], str | None]], ...] = (
    ("firmware", lambda: _firmware_uuid()),
    ("network_card", lambda: _network_card_identity() or _network_identity()),
    ("os", lambda: _os_identity()),
    ("disk", lambda: _disk_serial()),
    ("board", lambda: _board_serial()),
    ("cpu", lambda: _cpu_model()),
)


def component_hash(app_id: str, name: str, value: str) -> str:
    """One part's hash, scoped to the app like the fingerprint (docs/protocol.md)."""
    message = b"\0".join(
        (b"licensor-component/1", app_id.encode(), name.encode(), value.strip().encode())
    )
    return hashlib.sha256(message).hexdigest()


def machine_components(app_id: str) -> dict[str, str]:
    """The parts this machine lets a user process read, each hashed for ``app_id``."""
    parts: dict[str, str] = {}
    for name, read in COMPONENT_SOURCES:
        value = read()
        if value and value.strip():
            parts[name] = component_hash(app_id, name, value)
    return parts


def _derive(identity: str, app_id: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=app_id.encode(), info=purpose).derive(
        identity.encode()
    )


def describe_platform() -> str:
    return f"{platform.system()} {platform.release()} {platform.machine()}".strip()


def this_machine(app_id: str, state_dir: Path, override: str | None = None) -> Machine:
    """This device's fingerprint and sealing key for the app ``app_id``."""
    override = override if override is not None else os.environ.get(FINGERPRINT_ENV)
    name, system = socket.gethostname(), describe_platform()
    if override:
        if not _FINGERPRINT_PATTERN.match(override):
            raise ValueError(f"{FINGERPRINT_ENV} must be 16 to 128 letters, digits or any of _-:.")
        return Machine(
            override, _derive(override, app_id, b"licensor-seal/1"), name, system, "override"
        )
    source, identity = _durable_identity(state_dir)
    fingerprint = hashlib.sha256(
        b"licensor-fingerprint/1\0" + app_id.encode() + b"\0" + identity.encode()
    ).hexdigest()
    return Machine(
        fingerprint,
        _derive(identity, app_id, b"licensor-seal/1"),
        name,
        system,
        source,
        machine_components(app_id),
    )
