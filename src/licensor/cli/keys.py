"""``licensor keys``: the public key material apps pin, and new keys for hosts that
share a database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from licensor.cli.shell import command_context, console, errors
from licensor.errors import KeyMaterialError
from licensor.keys import create_key_files

app = typer.Typer(
    help="Key material: new keys for a database, the public key apps pin.", no_args_is_help=True
)


@app.command("create")
def keys_create(
    directory: Annotated[
        Path, typer.Option("--dir", help="Directory to write the key files into (made 0700).")
    ],
) -> None:
    """Create fresh keys (encryption, blind index, signing) in a directory, once per
    installation: every host that shares the database starts with these files
    (LICENSOR_KEYS_DIR=DIR). Existing key files are never overwritten."""
    try:
        paths = create_key_files(directory.expanduser())
    except KeyMaterialError as error:
        errors.print(f"[red]key material:[/red] {error}", highlight=False)
        raise typer.Exit(1) from None
    except OSError as error:
        errors.print(
            f"[red]error:[/red] cannot write {directory} ({error.strerror})", highlight=False
        )
        raise typer.Exit(1) from None
    console.print(
        f"keys created in {directory}: {', '.join(path.name for path in paths)} (mode 0600). "
        f"Start every host with LICENSOR_KEYS_DIR={directory} (or these keys in the "
        "LICENSOR_* key variables), and back them up apart from the database (docs/keys.md).",
        highlight=False,
    )


@app.command("show")
def keys_show() -> None:
    """Print the public signing keys to pin in the app (base64url, raw Ed25519)."""
    with command_context() as (_settings, _database, keyring):
        console.print_json(
            json.dumps(
                {
                    "algorithm": "Ed25519",
                    "current": keyring.signing_key_id,
                    "keys": keyring.public_keys_b64(),
                }
            )
        )
