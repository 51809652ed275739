"""``licensor users``: accounts that can sign in at once (customers, agents, admins)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from licensor.cli.shell import actor, command_context, console, errors
from licensor.clock import clock
from licensor.errors import FormInvalid
from licensor.units import open_unit
from licensor.web.messages import field_message

app = typer.Typer(help="Accounts: customers, support agents, admins.", no_args_is_help=True)


@app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Email address (sign-in name).")],
    role: Annotated[str, typer.Option(help="customer, agent or admin.")] = "customer",
    totp_secret: Annotated[
        str | None, typer.Option(help="Enrol two-factor with this base32 secret.")
    ] = None,
    language: Annotated[str, typer.Option(help="en or it.")] = "en",
) -> None:
    """Create an account that can sign in at once (password from LICENSOR_PASSWORD or a prompt)."""
    password = os.environ.get("LICENSOR_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    with command_context() as (settings, database, keyring):
        try:
            with open_unit(database, keyring, settings, clock.now(), actor=actor()) as unit:
                account = unit.accounts.create(
                    email,
                    password,
                    roles=[role],
                    language=language,
                    verified=True,
                    totp_secret=totp_secret,
                )
                summary = f"{account.email} ({', '.join(account.roles)})"
        except FormInvalid as error:
            for field, problem in error.fields.items():
                errors.print(f"[red]error:[/red] {field}: {field_message(problem)}")
            raise typer.Exit(1) from None
    two_factor = " with two-factor sign-in" if totp_secret else ""
    if not totp_secret and role in ("agent", "admin"):
        two_factor = "; two-factor sign-in is set up at its first sign-in"
    console.print(f"account {summary} created{two_factor}; it can sign in now")
