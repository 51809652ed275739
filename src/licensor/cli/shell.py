"""What every ``licensor`` command shares: the console it writes to, and the settings,
database, keys and unit of work of one command, whose errors become a message and exit 1."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from licensor.clock import clock
from licensor.config import Settings, get_settings
from licensor.db import Database
from licensor.errors import FormInvalid, KeyMaterialError, LicensorError
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


@contextmanager
def command_context() -> Iterator[tuple[Settings, Database, Keyring]]:
    """Settings, database and keys for one command; errors become a message and exit 1."""
    from licensor.migrate import schema_problem

    settings = get_settings()
    configure_logging(settings)  # to stderr, at LICENSOR_LOG_LEVEL: stdout is the command's
    if problem := schema_problem(settings):
        errors.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(1)
    database = Database(settings)
    try:
        keyring = load_keyring(settings)
        database.use_keyring(keyring)
        yield settings, database, keyring
    except FormInvalid as error:
        for field, message in error.fields.items():
            errors.print(f"[red]error:[/red] --{field.replace('_', '-')}: {field_message(message)}")
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
