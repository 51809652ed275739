"""Private files: what Licensor keeps on disk is for its own user's eyes only.

``var/`` and the keys directory are 0700 (so is ``var/attachments``, where versions
before screenshots moved into the database kept them, until ``licensor migrate`` reads
them in); the SQLite database and its ``-wal`` and ``-shm`` files are 0600 (SQLite gives
the last two the database file's mode). They are created so, whatever the umask, and
tightened at every start when found looser (an older release, a copy, a restore from
backup)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from licensor.config import Settings

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# Where an older version kept each screenshot, encrypted, under its storage name.
ATTACHMENT_FILES = "attachments"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL (None: another database, or in memory)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def attachment_files_dir(settings: Settings) -> Path:
    """The directory of screenshots an older version left on this host's disk."""
    return settings.var_dir / ATTACHMENT_FILES


def tighten(path: Path, mode: int) -> None:
    """Take from ``path`` any permission beyond ``mode`` (a missing path is left alone)."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        path.chmod(current & mode)


def private_directory(path: Path) -> None:
    """``path`` as a directory of our own: created 0700 (with its missing parents), or
    tightened to it."""
    if not path.is_dir():
        path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    tighten(path, DIRECTORY_MODE)


def private_sqlite_file(path: Path) -> None:
    """The database file, before SQLite opens it: created empty and 0600 when missing (an
    empty file is a new database to SQLite), its directory private when we made it."""
    if not path.parent.exists():
        private_directory(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    for companion in (path, *(path.with_name(path.name + end) for end in SQLITE_COMPANIONS)):
        tighten(companion, FILE_MODE)


def secure(settings: Settings) -> None:
    """Tighten what exists of var/ and the directories in it (the keys, old attachments),
    the keys directory wherever it is, its key files, and the SQLite database."""
    directories = [settings.var_dir, settings.resolved_keys_dir]
    if settings.var_dir.is_dir():
        directories += [child for child in settings.var_dir.iterdir() if child.is_dir()]
    for directory in directories:
        if directory.is_dir():
            tighten(directory, DIRECTORY_MODE)
    keys = settings.resolved_keys_dir
    if keys.is_dir():
        for key_file in keys.iterdir():
            if key_file.is_file():
                tighten(key_file, FILE_MODE)
    database = sqlite_path(settings.resolved_database_url)
    if database is not None and database.exists():
        private_sqlite_file(database)


def write_private(path: Path, blob: bytes) -> None:
    """Write ``path`` whole or not at all (a new file renamed over it), 0600, its directory
    private when we make it."""
    if not path.parent.exists():
        private_directory(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
