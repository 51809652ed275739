"""``licensor orders``: the back-office entry of a sale, or of the sale of codes a partner holds."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from licensor.cli.shell import actor, command_unit, console, errors
from licensor.dates import plural

app = typer.Typer(help="Orders: back-office entry of a sale.", no_args_is_help=True)


@app.command("create")
def orders_create(
    email: Annotated[str, typer.Option(help="The buyer's email address.")],
    name: Annotated[str, typer.Option(help="The buyer's name.")],
    plan: Annotated[
        str | None, typer.Option(help="Plan code (with --code: optional, must match).")
    ] = None,
    partner: Annotated[
        str | None, typer.Option(help="The partner who sold it (its slug); none: our store.")
    ] = None,
    quantity: Annotated[
        int | None, typer.Option(min=1, help="Codes to deliver, one per unit (default 1).")
    ] = None,
    codes: Annotated[
        list[str] | None,
        typer.Option(
            "--code",
            help="Record the sale of this existing code (repeatable; needs --partner): "
            "a partner's allocation or a --sold-at-till card, which activates only then.",
        ),
    ] = None,
    language: Annotated[str, typer.Option(help="Language of the confirmation mail.")] = "en",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {number, purchased_at, codes} as JSON.")
    ] = False,
) -> None:
    """Enter an order by hand. A store order's confirmation mail goes out as for a web
    purchase; a partner's order gets none from us (the partner delivers). With --code,
    record the sale of codes the partner (or a till) already holds instead of new ones."""

    if codes and (partner is None or quantity is not None):
        errors.print(
            "[red]error:[/red] --code records a sale of existing codes: it needs --partner "
            "and takes no --quantity"
        )
        raise typer.Exit(2)
    if not codes and plan is None:
        errors.print("[red]error:[/red] --plan is required (or --partner with --code)")
        raise typer.Exit(2)
    waiting = 0
    with command_unit() as unit:
        if codes and partner is not None:
            placed = unit.partner_sales.record_for(
                partner_slug=partner,
                codes=codes,
                email=email,
                name=name,
                plan_code=plan,
                language=language,
                actor=actor(),
            )
        else:
            assert plan is not None
            placed = unit.orders.create(
                plan_code=plan,
                email=email,
                name=name,
                quantity=quantity or 1,
                partner_slug=partner,
                language=language,
                actor=actor(),
            )
            waiting = unit.partners.unsold_allocated(partner, plan) if partner else 0
    if waiting:
        # New codes were issued; the partner's own cards stay unsold until named.
        errors.print(
            f"note: {partner} holds "
            + plural(waiting, "en", one="{count} unsold code", other="{count} unsold codes")
            + f" of plan {plan} in its "
            "allocation; to record the sale of one it sold, name it with --code"
        )
    if as_json:
        print(json.dumps(placed.as_json()))
        return
    console.print(
        f"order [bold]{placed.number}[/bold] ({placed.purchased_at:%Y-%m-%d %H:%M} UTC), "
        + (f"sold by {placed.partner}" if placed.partner else "our store")
        + ": "
        + plural(len(placed.codes), "en", one="{count} code", other="{count} codes")
    )
    for code in placed.codes:
        console.print(f"  {code}", highlight=False)
    if placed.partner is None:
        console.print(f"confirmation mail queued for {placed.email}")
