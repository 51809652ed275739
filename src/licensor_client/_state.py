"""The license's local state: one JSON file per app and user, written atomically.

A crash while saving leaves the old file or the new one, never half of each: we write a
temporary file beside it, flush it to disk and rename it over the old one. Files are
readable by their owner only. The activation code is kept sealed (``_sealing``), never
in clear.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from licensor_client.exceptions import PinnedKeysInvalid

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
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


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

    def load(self) -> dict[str, Any] | None:
        """The state, or ``None`` when there is none or it is not JSON (a half-written
        file from an older version: activating again repairs it). Any other failure to
        read (permissions, I/O) is raised: it is not the same as having no license."""
        try:
            content = self.license_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            state = json.loads(content)
        except ValueError:  # UnicodeDecodeError is one too
            return None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        write_atomically(self.license_path, dump_json({**state, "format": STATE_FORMAT}))

    def clear(self) -> None:
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
