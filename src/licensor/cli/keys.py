"""``licensor keys``: the public key material apps pin."""

from __future__ import annotations

import json

import typer

from licensor.cli.shell import command_context, console

app = typer.Typer(help="Key material: the public key apps pin.", no_args_is_help=True)


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
