"""``licensor report``: the business in figures, as the console's dashboard shows them."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from licensor.cli.shell import command_unit, console

app = typer.Typer(help="Reports: the dashboard's figures.", no_args_is_help=True)


@app.command("figures")
def report_figures(
    first: Annotated[
        str, typer.Option("--from", help="First day, YYYY-MM-DD (default: 30 days to --to).")
    ] = "",
    last: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (default: today).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, a count a day.")] = False,
) -> None:
    """Activations, validations, new licenses, devices with a seat, revenue, recoveries by
    channel and the support queue, over a range of at most 366 days (UTC days)."""
    from licensor.console.figures import figures, today
    from licensor.daily import typed_range

    with command_unit() as unit:
        days = typed_range(first, last, today(unit))
        report = figures(unit, days)
    if as_json:
        console.print_json(json.dumps(report.as_json()))
        return
    table = Table(title=f"{days.first.isoformat()} to {days.last.isoformat()} (UTC)")
    table.add_column("figure")
    table.add_column("total", justify="right")
    table.add_row("activations", str(sum(report.activations)))
    table.add_row("validations", str(sum(report.validations)))
    table.add_row("new licenses", str(sum(report.new_licenses)))
    table.add_row("devices with a seat (last day)", str(report.devices[-1]))
    for currency, cents in report.revenue.items():
        table.add_row(f"revenue {currency}", f"{sum(cents) / 100:.2f}")
    for channel, count in report.recoveries.items():
        table.add_row(f"recoveries: {channel.replace('_', ' ')}", str(count))
    table.add_row("new support requests", str(sum(report.new_requests)))
    table.add_row("support queue: open now", str(report.queue.size))
    console.print(table)
