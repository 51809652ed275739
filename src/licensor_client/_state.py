"""The license's local state: one JSON file per app and user, written atomically.

A crash while saving leaves the old file or the new one, never half of each: we write a
temporary file beside it, flush it to disk and rename it over the old one. Files are
readable by their owner only. The activation code is kept sealed (``_sealing``), never
in clear.

``license.json`` (format ``licensor-state/1``) is read as a ``DeviceState`` and written
back with the same fields, so an app updated in place reads what an older version wrote
and an older one reads ours (tests/client/test_older_states.py keeps files 0.1.0 wrote).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from licensor_client._signing import format_time, parse_time
from licensor_client.exceptions import NotActivated, PinnedKeysInvalid, VerificationError

STATE_FORMAT = "licensor-state/1"
LICENSE_FILE = "license.json"
KEYS_FILE = "signing-keys"


def default_state_dir(app_id: str) -> Path:
    """The per-user place an app keeps its license, following each platform's custom."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / app_id
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / app_id
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / app_id


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (owner only), or leave it as it was. A failure is
    an ``OSError`` naming ``path`` itself, not the temporary file beside it."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        if not isinstance(error, OSError) or error.errno is None:
            raise
        raise type(error)(error.errno, error.strerror, str(path)) from error
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make a rename or an unlink in ``directory`` itself durable (POSIX)."""
    if hasattr(os, "O_DIRECTORY"):
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def dump_json(value: Any) -> bytes:
    """The form of every file the SDK writes: indented, keys sorted, UTF-8."""
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


#: The fields written whatever their value (``null`` included); the others only when set.
_ALWAYS_WRITTEN = ("server", "license_file", "status", "valid", "checked_at", "devices_used")
_KNOWN_FIELDS = {*_ALWAYS_WRITTEN, "clock_high_water", "code", "verdict", "format"}


@dataclass(frozen=True)
class DeviceState:
    """What this device knows of its license, as ``license.json`` keeps it.

    Nothing here is trusted as it stands: the license file and the verdict are checked
    against the pinned keys whenever they are used, and the rest is only this device's
    own note of what it saw. A field missing or of the wrong type reads as unknown (a
    file written by hand, or damaged), so the signed parts decide, never a crash.
    """

    #: The signed license file as the server sent it (``{}`` when there is none).
    license_file: dict[str, Any]
    #: Where the license was activated, so that a command need not be told again.
    server: str = ""
    #: The status in the server's last answer; ``None``: as the license file says.
    status: str | None = None
    #: Whether the server's last answer (or the restored file) said the license is valid.
    valid: bool = False
    #: When the server last answered, on this device's clock.
    checked_at: datetime | None = None
    #: Seats taken, as the server last said; ``None`` until it says.
    devices_used: int | None = None
    #: The latest time the clock showed during a check: a clock set back behind it is
    #: refused offline (unsigned, ours).
    clock_high_water: datetime | None = None
    #: The activation code sealed to this machine (``_sealing``), for backups.
    code: dict[str, Any] | None = None
    #: The server's last signed "not valid" answer, which goes on counting offline.
    verdict: dict[str, Any] | None = None
    #: Fields a newer version wrote, kept as they were when this state is saved again.
    unknown_fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> DeviceState:
        """Read the fields of ``license.json`` (its format already checked)."""
        license_file = document.get("license_file")
        status, server = document.get("status"), document.get("server")
        devices_used, code = document.get("devices_used"), document.get("code")
        verdict = document.get("verdict")
        return cls(
            license_file=license_file if isinstance(license_file, dict) else {},
            server=server if isinstance(server, str) else "",
            status=status if isinstance(status, str) else None,
            valid=document.get("valid") is True,
            checked_at=_moment(document.get("checked_at")),
            devices_used=_count(devices_used),
            clock_high_water=_moment(document.get("clock_high_water")),
            code=code if isinstance(code, dict) else None,
            # A verdict that is there but unreadable must still fail its check, not vanish.
            verdict=None if verdict is None else verdict if isinstance(verdict, dict) else {},
            unknown_fields={
                name: value for name, value in document.items() if name not in _KNOWN_FIELDS
            },
        )

    def as_json(self) -> dict[str, Any]:
        """The document to write, ``format`` aside."""
        document: dict[str, Any] = {
            **self.unknown_fields,
            "server": self.server,
            "license_file": self.license_file,
            "status": self.status,
            "valid": self.valid,
            "checked_at": _when(self.checked_at),
            "devices_used": self.devices_used,
        }
        if self.clock_high_water is not None:
            document["clock_high_water"] = format_time(self.clock_high_water)
        if self.code is not None:
            document["code"] = self.code
        if self.verdict is not None:
            document["verdict"] = self.verdict
        return document

    @property
    def payload(self) -> dict[str, Any]:
        """The license file's payload as stored: read it only once the file is verified."""
        payload = self.license_file.get("payload")
        return payload if isinstance(payload, dict) else {}

    @property
    def license_key(self) -> str | None:
        """The license key the file names, unverified (to tell two licenses apart)."""
        key = self.payload.get("license_key")
        return None if key is None else str(key)

    @property
    def public_id(self) -> str:
        """The public license ID the file names, unverified, for messages."""
        public_id = self.payload.get("public_id")
        return "unknown" if public_id is None else str(public_id)


def _moment(value: Any) -> datetime | None:
    try:
        return parse_time(value) if value is not None else None
    except VerificationError:
        return None


def _when(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class StateStore:
    """Reads and writes the state directory of one app on one device."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def license_path(self) -> Path:
        return self.directory / LICENSE_FILE

    @property
    def keys_path(self) -> Path:
        return self.directory / KEYS_FILE

    def load(self) -> DeviceState | None:
        """The state, or ``None`` when there is none or it is not JSON (a half-written
        file from an older version: activating again repairs it). Any other failure to
        read (permissions, I/O) is raised: it is not the same as having no license."""
        try:
            content = self.license_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            document = json.loads(content)
        except ValueError:  # UnicodeDecodeError is one too
            return None
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            return None
        return DeviceState.from_json(document)

    def load_activated(self) -> DeviceState:
        """The state, or ``NotActivated`` when this device holds no license."""
        state = self.load()
        if state is None:
            raise NotActivated("no license on this device: enter an activation code")
        return state

    def save(self, state: DeviceState) -> None:
        """Replace the state on disk with ``state``, whole or not at all."""
        write_atomically(self.license_path, dump_json({**state.as_json(), "format": STATE_FORMAT}))

    def clear(self) -> None:
        """Forget the license kept here (the pinned keys stay)."""
        try:
            self.license_path.unlink()
        except FileNotFoundError:
            return
        _sync_directory(self.directory)

    def pinned_keys(self) -> str | None:
        """The keys pinned on first use (``id:key,...``), or ``None`` when none are."""
        try:
            content = self.keys_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            text = content.decode().strip()
        except UnicodeDecodeError:
            text = ""
        if not text:
            raise PinnedKeysInvalid(self.damaged_keys_message())
        return text

    def damaged_keys_message(self) -> str:
        return (
            f"the signing keys pinned in {self.keys_path} are damaged: delete that file to "
            "pin the server's keys again, or give the vendor's keys"
        )

    def pin_keys(self, text: str) -> None:
        write_atomically(self.keys_path, (text + "\n").encode())
