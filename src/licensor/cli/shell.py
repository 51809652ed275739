"""What every ``licensor`` command shares: the console it writes to, and the settings,
database, keys and unit of work of one command, whose errors become a message and exit 1."""

from __future__ import annotations

import getpass
import os
import pwd
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import ProgrammingError

from licensor.clock import clock
from licensor.config import Settings, get_settings
from licensor.db import Database
from licensor.errors import DatabaseUnavailable, FormInvalid, KeyMaterialError, LicensorError
from licensor.files import private_directory, sqlite_path
from licensor.keychecks import check_keys
from licensor.keys import Keyring, load_keyring
from licensor.logging import configure_logging
from licensor.units import UnitOfWork, open_unit
from licensor.web.messages import field_message

# Soft wrap: messages name paths and codes, which a terminal may fold but a pipe must
# receive whole (Rich would break lines at 80 columns when the output is not a terminal).
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def actor() -> str:
    """Who the audit trail names for a command: the vendor's user at the shell."""
    return f"cli:{getpass.getuser()}"


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _cannot_write(directory: Path) -> str | None:
    """Why this user cannot make files in ``directory`` (made 0700 when missing), or None."""
    try:
        if not directory.is_dir():
            private_directory(directory)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        return error.strerror or type(error).__name__
    return None


def var_problem(settings: Settings) -> str | None:
    """Why the SQLite database's directory (``var/`` by default) cannot be written, in one
    line naming the path and what to do; None when it can, or the database is not SQLite.
    (Keys made on first start say their own: keys.load_keyring.)"""
    database = sqlite_path(settings.resolved_database_url)
    if database is None:
        return None
    setting = "LICENSOR_DATABASE_URL" if settings.database_url else "LICENSOR_VAR_DIR"
    user = _user()
    directory = database.parent
    if reason := _cannot_write(directory):
        return (
            f"cannot write {directory} ({reason}), where the SQLite database is kept: make "
            f"it a directory user {user} can write (e.g. `install -d -m 700 -o {user} "
            f"{directory}`), or set {setting} to one"
        )
    if database.exists() and not os.access(database, os.W_OK):
        return (
            f"cannot write the SQLite database {database} (read-only): make it user {user}'s "
            f"(e.g. `chown {user} {database}`), or set {setting} to a directory of its own"
        )
    return None


def refuse_unwritable_var(settings: Settings) -> None:
    """Exit 1 with ``var_problem``'s line, before anything writes there."""
    if problem := var_problem(settings):
        errors.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(1)


@contextmanager
def command_context() -> Iterator[tuple[Settings, Database, Keyring]]:
    """Settings, database and keys for one command; errors become a message and exit 1.
    var/ must be writable, the schema current and the keys those that made the database
    (licensor/keychecks.py): else the command ends in one line, as a server's start does."""
    from licensor.migrate import schema_problem

    settings = get_settings()
    configure_logging(settings)  # to stderr, at LICENSOR_LOG_LEVEL: stdout is the command's
    refuse_unwritable_var(settings)
    if problem := schema_problem(settings):
        errors.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(1)
    database = Database(settings)
    try:
        keyring = load_keyring(settings)
        database.use_keyring(keyring)
        check_keys(database, keyring, clock.now())
        yield settings, database, keyring
    except FormInvalid as error:
        for field, message in error.fields.items():
            errors.print(f"[red]error:[/red] --{field.replace('_', '-')}: {field_message(message)}")
        raise typer.Exit(1) from None
    except DatabaseUnavailable as error:
        # The operator's own command: the driver's reason, which no client's answer shows.
        cause = getattr(error.__cause__, "orig", None) or error.__cause__ or error
        reason = " ".join(str(cause).split())
        errors.print(f"[red]error:[/red] the database is unavailable: {escape(reason)}")
        raise typer.Exit(1) from None
    except ProgrammingError as error:
        # Most often a role without rights on a table (docs/deploy.md's row-only role
        # before its grants); a bug of ours would be one too, and its reason says which.
        reason = " ".join(str(error.orig or error).split())
        errors.print(
            f"[red]error:[/red] the database refused: {escape(reason)} (does the role in "
            "LICENSOR_DATABASE_URL have its rights? docs/deploy.md)"
        )
        raise typer.Exit(1) from None
    except LicensorError as error:
        errors.print(f"[red]error:[/red] {error.detail} [dim]({error.code})[/dim]")
        raise typer.Exit(1) from None
    except KeyMaterialError as error:
        errors.print(f"[red]key material:[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()


@contextmanager
def command_unit() -> Iterator[UnitOfWork]:
    """One command's unit of work: its services by name, in one transaction, its audit
    rows by the vendor's user at the shell."""
    with (
        command_context() as (settings, database, keyring),
        open_unit(database, keyring, settings, clock.now(), actor=actor()) as unit,
    ):
        yield unit
