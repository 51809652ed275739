"""``licensor codes``: issue batches of printed-card codes, block a code, look one up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from licensor.cli.shell import actor, command_context, command_unit, console, errors
from licensor.licensing import formats

app = typer.Typer(help="Activation codes: issue batches, block, look up.", no_args_is_help=True)


@app.command("issue")
def codes_issue(
    plan: Annotated[str, typer.Option(help="Plan code.")],
    count: Annotated[int, typer.Option(min=1, help="How many codes.")],
    out: Annotated[Path, typer.Option(help="CSV for the card printer.", dir_okay=False)],
    label: Annotated[str, typer.Option(help="A label for the batch.")] = "",
    partner: Annotated[
        str | None, typer.Option(help="Allocate the batch to this partner (its slug).")
    ] = None,
    sold_at_till: Annotated[
        bool,
        typer.Option(
            "--sold-at-till",
            help="Cards activate only once the till records each sale (docs/partners.md).",
        ),
    ] = False,
) -> None:
    """Issue a batch of printed-card codes into a CSV (first column activation_code);
    with --partner, the batch is that partner's allocation. A partner's codes, and with
    --sold-at-till any card, activate only once their sale is recorded."""
    from licensor.licensing.batches import issue_codes

    columns = (
        TextColumn("[bold]issuing[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with command_unit() as unit:  # say "unknown plan" before any bar
        unit.plans.by_code(plan)
        if partner is not None:
            unit.partners.by_slug(partner)
    with command_context() as (settings, database, keyring):
        with Progress(*columns, console=errors) as bar:
            task = bar.add_task("codes", total=count)
            batch = issue_codes(
                database,
                keyring,
                settings,
                plan_code=plan,
                count=count,
                out=out,
                label=label,
                partner_slug=partner,
                sold_at_till=sold_at_till,
                actor=actor(),
                progress=lambda n: bar.advance(task, n),
            )
    console.print(f"batch {batch.batch_id}: {batch.count:,} {batch.plan} codes written to {out}")
    if partner is not None or sold_at_till:
        console.print(
            "these codes activate once their sale is recorded "
            "(partner API, or `licensor orders create --partner SLUG --code CODE`)"
        )


@app.command("block")
def codes_block(
    code: Annotated[str, typer.Argument(help="The activation code.")],
    reason: Annotated[str, typer.Option(help="Why: refund, fraud, leaked, grey market…")],
) -> None:
    """Block a code (and its license): it no longer activates or validates."""

    with command_unit() as unit:
        blocked = unit.codes.block_code(code, reason=reason, actor=actor())
        masked = formats.mask_code(formats.normalize_code(code))
        console.print(f"blocked {masked} (code #{blocked.id}): {reason}")


@app.command("show")
def codes_show(
    secret: Annotated[str, typer.Argument(help="An activation code or a license key.")],
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show the code and key in full (audited).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why the code is revealed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Look up a code or license key: plan, state, license, devices."""
    from licensor.licensing.report import code_report

    with command_unit() as unit:
        report = code_report(
            unit,
            secret,
            reveal=reveal,
            actor=actor(),
            reason=reason,
        )
        if as_json:
            console.print_json(json.dumps(report))
        else:
            _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for field in (
        "activation_code",
        "plan",
        "state",
        "origin",
        "batch",
        "created_at",
        "blocked_reason",
        "license_key",
        "public_id",
        "starts_at",
        "expires_at",
        "devices",
    ):
        value = report.get(field)
        if value is not None:
            table.add_row(f"[bold]{field.replace('_', ' ')}[/bold]", str(value))
    console.print(table)
    seats = report.get("activations") or []
    if seats:
        seat_table = Table("device", "platform", "activated", "released")
        for seat in seats:
            seat_table.add_row(
                seat["device"], seat["platform"], seat["activated_at"], seat["released_at"] or "—"
            )
        console.print(seat_table)
