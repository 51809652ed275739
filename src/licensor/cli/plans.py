"""``licensor plans``: what a code or subscription entitles to."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from licensor.cli.shell import command_unit, console

app = typer.Typer(help="Plans: what a code or subscription entitles to.", no_args_is_help=True)


@app.command("create")
def plans_create(
    code: Annotated[str, typer.Option(help="Short code, e.g. standard.")],
    name: Annotated[str, typer.Option(help="Name shown to customers.")],
    term_days: Annotated[int, typer.Option(min=1, help="Term in days, from first activation.")],
    devices: Annotated[int, typer.Option(min=1, help="How many devices at once.")],
    entitlement: Annotated[
        list[str] | None, typer.Option(help="An entitlement (repeatable).")
    ] = None,
    price: Annotated[
        str | None, typer.Option(help="Price of a code in the store, e.g. 29.99 (none: not sold).")
    ] = None,
    subscription_price: Annotated[
        str | None, typer.Option(help="Price of a subscription per term (none: not sold).")
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 currency of the prices.")] = "EUR",
) -> None:
    """Create a plan."""
    from licensor.licensing.plans import parse_price

    with command_unit() as unit:
        plan = unit.plans.create(
            code=code,
            name=name,
            term_days=term_days,
            devices_max=devices,
            entitlements=entitlement,
            price_cents=parse_price(price),
            subscription_price_cents=parse_price(subscription_price),
            currency=currency,
        )
        console.print(
            f"plan [bold]{plan.code}[/bold] ({plan.name}): {plan.term_days} days, "
            f"{plan.devices_max} device(s)"
        )


@app.command("list")
def plans_list() -> None:
    """List the plans."""

    with command_unit() as unit:
        table = Table("code", "name", "term (days)", "devices", "entitlements")
        for plan in unit.plans.all():
            table.add_row(
                plan.code,
                plan.name,
                str(plan.term_days),
                str(plan.devices_max),
                ", ".join(plan.entitlements or []),
            )
        console.print(table)
