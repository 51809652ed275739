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
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def dump_json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


class StateStore:
    """Reads and writes the state directory of one app on one device."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def license_path(self) -> Path:
        return self.directory / LICENSE_FILE

    def load(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.license_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable state is no license; activating again repairs it
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        write_atomically(self.license_path, dump_json({**state, "format": STATE_FORMAT}))

    def clear(self) -> None:
        self.license_path.unlink(missing_ok=True)

    def pinned_keys(self) -> str | None:
        try:
            return (self.directory / KEYS_FILE).read_text().strip() or None
        except OSError:
            return None

    def pin_keys(self, text: str) -> None:
        write_atomically(self.directory / KEYS_FILE, (text + "\n").encode())
