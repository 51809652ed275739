"""``licensor plans``: what a code or subscription entitles to."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from licensor.cli.shell import command_unit, console, errors
from licensor.dates import plural

app = typer.Typer(help="Plans: what a code or subscription entitles to.", no_args_is_help=True)

TransferLimit = Annotated[
    int | None,
    typer.Option(
        min=0, help="How many times a seat may move to another device per period (none: no cap)."
    ),
]
TransferPeriod = Annotated[
    int | None, typer.Option(min=1, help="The transfer limit's period, in days.")
]
LeaseSeconds = Annotated[
    int | None,
    typer.Option(
        min=60,
        max=86_400,
        help="Make the plan floating: --devices then counts leases held at once, each this "
        "many seconds unless renewed (e.g. 900).",
    ),
]


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
    transfer_limit: TransferLimit = None,
    transfer_period_days: TransferPeriod = None,
    lease_seconds: LeaseSeconds = None,
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
            transfer_limit=transfer_limit,
            transfer_period_days=transfer_period_days,
            lease_seconds=lease_seconds,
        )
        console.print(
            f"plan [bold]{plan.code}[/bold] ({plan.name}): {plan.term_days} days, "
            + plural(plan.devices_max, "en", one="{count} device", other="{count} devices")
            + (f" at once, floating ({plan.lease_seconds} s leases)" if lease_seconds else "")
        )


_FIELDS = {
    "name": "name",
    "term_days": "term (days)",
    "devices_max": "devices",
    "price_cents": "price",
    "subscription_price_cents": "subscription price",
    "entitlements": "entitlements",
    "transfer_limit": "transfer limit",
    "transfer_period_days": "transfer period (days)",
    "lease_seconds": "lease (seconds)",
}


def _shown(field: str, value: object) -> str:
    if field.endswith("price_cents"):
        return "not sold" if value is None else f"{int(str(value)) / 100:.2f}"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    if value is None:
        return "none"
    return str(value)


@app.command("edit")
def plans_edit(
    code: Annotated[str, typer.Argument(help="The plan's code, e.g. standard.")],
    name: Annotated[str | None, typer.Option(help="Name shown to customers.")] = None,
    price: Annotated[
        str | None, typer.Option(help="Price of a code in the store, e.g. 29.99 ('' : not sold).")
    ] = None,
    subscription_price: Annotated[
        str | None, typer.Option(help="Price of a subscription per term ('' : not sold).")
    ] = None,
    term_days: Annotated[
        int | None,
        typer.Option(min=1, help="Term in days, for codes activated from now on and renewals."),
    ] = None,
    devices: Annotated[
        int | None, typer.Option(min=1, help="How many devices at once, for every license.")
    ] = None,
    entitlement: Annotated[
        list[str] | None,
        typer.Option(help="An entitlement (repeatable): the new list; --entitlement '' clears it."),
    ] = None,
    transfer_limit: TransferLimit = None,
    transfer_period_days: TransferPeriod = None,
    no_transfer_limit: Annotated[
        bool, typer.Option("--no-transfer-limit", help="Lift the transfer limit.")
    ] = False,
    lease_seconds: LeaseSeconds = None,
    no_lease: Annotated[
        bool, typer.Option("--no-lease", help="Count devices again, not leases held at once.")
    ] = False,
) -> None:
    """Change a plan's name, prices, term, device limit or entitlements (audited)."""
    from licensor.licensing.plans import KEEP, parse_price

    transfers = (transfer_limit, transfer_period_days)
    if (name, price, subscription_price, term_days, devices, entitlement, *transfers) == (
        None,
    ) * 8 and not (no_transfer_limit or no_lease or lease_seconds):
        errors.print(
            "[red]error:[/red] nothing to change: give --name, --price, --subscription-price, "
            "--term-days, --devices, --entitlement, --transfer-limit, --transfer-period-days, "
            "--no-transfer-limit, --lease-seconds or --no-lease"
        )
        raise typer.Exit(1)
    if no_transfer_limit and transfers != (None, None):
        raise typer.BadParameter("--no-transfer-limit takes no --transfer-limit or period")
    if no_lease and lease_seconds is not None:
        raise typer.BadParameter("give --lease-seconds or --no-lease, not both")
    with command_unit() as unit:
        changes = unit.plans.edit(
            code,
            name=name,
            term_days=term_days,
            devices_max=devices,
            price_cents=KEEP if price is None else parse_price(price),
            subscription_price_cents=(
                KEEP if subscription_price is None else parse_price(subscription_price)
            ),
            entitlements=entitlement,
            transfer_limit=None
            if no_transfer_limit
            else (KEEP if transfer_limit is None else transfer_limit),
            transfer_period_days=None
            if no_transfer_limit
            else (KEEP if transfer_period_days is None else transfer_period_days),
            lease_seconds=None if no_lease else (KEEP if lease_seconds is None else lease_seconds),
        )
        said = "; ".join(
            f"{_FIELDS[field]}: {_shown(field, before)} -> {_shown(field, after)}"
            for field, (before, after) in changes.items()
        )
        console.print(
            f"plan [bold]{code.strip().lower()}[/bold]: {said or 'nothing changed'}",
            highlight=False,
        )


@app.command("retire")
def plans_retire(
    code: Annotated[str, typer.Argument(help="The plan's code, e.g. standard.")],
) -> None:
    """Retire a plan: it leaves the store and makes no new codes or orders, for good; its
    codes, licenses and subscriptions keep working (audited)."""
    with command_unit() as unit:
        plan = unit.plans.retire(code)
        console.print(
            f"plan [bold]{plan.code}[/bold] retired: no longer sold, no new codes or orders; "
            "its licenses keep working",
            highlight=False,
        )


@app.command("list")
def plans_list() -> None:
    """List the plans, retired ones too."""

    with command_unit() as unit:
        table = Table(
            "code", "name", "term (days)", "devices", "entitlements", "transfers", "status"
        )
        for plan in unit.plans.all():
            table.add_row(
                plan.code,
                plan.name,
                str(plan.term_days),
                str(plan.devices_max)
                if plan.lease_seconds is None
                else f"{plan.devices_max} floating ({plan.lease_seconds} s)",
                ", ".join(plan.entitlements or []),
                "no limit"
                if plan.transfer_limit is None
                else f"{plan.transfer_limit}/{plan.transfer_period_days}d",
                "retired" if plan.retired_at else "active",
            )
        console.print(table)
