"""``licensor backup`` and ``licensor restore``: the embedded SQLite database copied while
the server runs, and put back (docs/backup.md).

The copy is SQLite's online backup (``sqlite3.Connection.backup``): one consistent
snapshot, taken in a single step, while writers go on (WAL mode: a reader blocks no one).
It never holds the keys: whoever has a backup and the keys has every activation code, so
the keys are kept apart, and a backup written into the keys directory is refused.
PostgreSQL has its own tools (``pg_dump``, point-in-time recovery); both commands say so.

A restore checks what it is given before it touches anything: a SQLite file with
Licensor's tables at a revision this version knows, and keys that match it (a stored
activation code decrypts with the keys in use and gives its own blind index back, the
readiness check's test). Restored with other keys, every license would be ``unknown``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from licensor.cli.shell import console, errors
from licensor.clock import clock
from licensor.config import Settings, get_settings
from licensor.errors import KeyMaterialError
from licensor.files import FILE_MODE, SQLITE_COMPANIONS, private_directory, sqlite_path
from licensor.keys import Keyring, load_keyring
from licensor.licensing.codes import CODE_PURPOSE
from licensor.logging import configure_logging

POSTGRESQL = (
    "licensor {command} works on the embedded SQLite database; on PostgreSQL use "
    "{tools} (and WAL archiving for point-in-time recovery): see docs/backup.md"
)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def _database_file(settings: Settings, command: str, tools: str) -> Path:
    """The SQLite file of the settings' database, or a one-line refusal."""
    path = sqlite_path(settings.resolved_database_url)
    if path is None:
        raise _fail(POSTGRESQL.format(command=command, tools=tools))
    return path.resolve()


def _keys_kept(settings: Settings) -> str:
    """Where this installation's keys are, as the operator sets them."""
    if settings.code_encryption_keys or settings.blind_index_key or settings.signing_keys:
        return "the LICENSOR_* key variables"
    return str(settings.resolved_keys_dir.resolve())


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    with closing(connection):
        yield connection


def _private_copy(source: sqlite3.Connection, target: Path) -> None:
    """``source`` copied whole to ``target`` (a new file, 0600, one file without a WAL
    beside it), renamed into place only once complete."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    temporary.unlink(missing_ok=True)
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    try:
        with closing(sqlite3.connect(temporary)) as copy:
            source.backup(copy)  # all pages in one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")
            if copy.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise sqlite3.DatabaseError("the copy does not pass SQLite's quick check")
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _revision(connection: sqlite3.Connection) -> str | None:
    """The schema revision of a Licensor database; None for anything else."""
    try:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
        if not {"alembic_version", "activation_codes"} <= tables:
            return None
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:  # not a database at all
        return None
    return str(row[0]) if row else None


def _keys_verdict(connection: sqlite3.Connection, keyring: Keyring) -> tuple[bool, str]:
    """Whether the keys fit the data, and what says so."""
    row = connection.execute(
        "SELECT code_index, code_ciphertext FROM activation_codes LIMIT 1"
    ).fetchone()
    if row is None:
        return True, "there is no activation code yet to try them on"
    index, ciphertext = row
    try:
        code = keyring.decrypt(ciphertext, purpose=CODE_PURPOSE)
    except Exception:  # another encryption key: the tag does not verify
        return False, "a stored activation code does not decrypt with them"
    if keyring.blind_index(code, purpose=CODE_PURPOSE) != index:
        return False, "the blind index key differs"
    return True, "a stored activation code decrypts to itself"


def backup(
    out: Annotated[Path, typer.Option("--out", help="File to write the copy to (0600).")],
) -> None:
    """Copy the embedded SQLite database to a file while the server runs (no keys in it)."""
    settings = get_settings()
    configure_logging(settings)
    database = _database_file(settings, "backup", "pg_dump")
    target = out.expanduser().resolve()
    keys = settings.resolved_keys_dir.resolve()
    if _inside(target, keys):
        raise _fail(f"--out {target} is inside the keys directory {keys}: keep backups apart")
    if target in {database, *(database.with_name(database.name + e) for e in SQLITE_COMPANIONS)}:
        raise _fail(f"--out {target} is the database itself")
    if not database.is_file():
        raise _fail(f"there is no database at {database}")
    if not target.parent.is_dir():
        raise _fail(f"--out: the directory {target.parent} does not exist")
    try:
        with _read_only(database) as source:
            revision = _revision(source)
            if revision is None:
                raise _fail(f"{database} is not a Licensor database")
            _private_copy(source, target)
    except (OSError, sqlite3.Error) as error:
        raise _fail(f"cannot back up {database} to {target}: {error}") from None
    console.print(
        f"backed up {database} (revision {revision}) to {target}: "
        f"{target.stat().st_size} bytes, mode 0600, "
        f"at {clock.now():%Y-%m-%dT%H:%M:%SZ}",
        highlight=False,
    )
    console.print(
        f"The backup holds no keys: keep {_keys_kept(settings)} apart from it, somewhere "
        "else (whoever has both has every activation code); a restore needs both.",
        highlight=False,
    )


def restore(
    backup_file: Annotated[Path, typer.Argument(metavar="FILE", help="A licensor backup.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace the database that is there.")
    ] = False,
) -> None:
    """Put a backup made by `licensor backup` back as the embedded SQLite database, once
    it is checked to be a Licensor database that the keys in use can read. Stop every
    server and worker that uses the database first."""
    from licensor.migrate import head, known

    settings = get_settings()
    configure_logging(settings)
    database = _database_file(settings, "restore", "pg_restore or psql")
    source_path = backup_file.expanduser().resolve()
    if not source_path.is_file():
        raise _fail(f"there is no file {source_path}")
    try:
        with _read_only(source_path) as source:
            revision = _revision(source)
            if revision is None:
                raise _fail(f"{source_path} is not a Licensor database")
            if not known(settings, revision):
                raise _fail(
                    f"{source_path} is at revision {revision}, which this version of "
                    "Licensor does not know: restore it with the version that made it"
                )
            try:
                # Never fresh keys here: they would only fail to match.
                keyring = load_keyring(settings.model_copy(update={"create_keys": False}))
            except KeyMaterialError as error:
                raise _fail(
                    f"no keys to check the backup with ({error}): put back the keys kept "
                    "apart first (docs/backup.md)"
                ) from None
            match, why = _keys_verdict(source, keyring)
            if not match:
                raise _fail(
                    f"the keys in {_keys_kept(settings)} do not match {source_path}: "
                    f"{why}; put back the keys kept for this backup, then try again"
                )
            if database.exists() and database.stat().st_size > 0 and not force:
                raise _fail(
                    f"{database} exists: stop the servers and workers that use it, then "
                    "restore again with --force to replace it"
                )
            private_directory(database.parent)
            for end in SQLITE_COMPANIONS:  # an old WAL would be replayed over the restore
                database.with_name(database.name + end).unlink(missing_ok=True)
            _private_copy(source, database)
    except (OSError, sqlite3.Error) as error:
        raise _fail(f"cannot restore {source_path} to {database}: {error}") from None
    console.print(
        f"restored {source_path} (revision {revision}) to {database}; the keys in "
        f"{_keys_kept(settings)} match it ({why})",
        highlight=False,
    )
    if revision != head(settings):
        console.print("run `licensor migrate` before serving: the backup is older", highlight=False)
