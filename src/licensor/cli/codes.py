"""``licensor codes``: issue batches of printed-card codes, block a code, look one up."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from licensor.errors import BatchCutShort
from licensor.licensing import formats
from licensor.licensing.card_batches import CHUNK

if TYPE_CHECKING:
    from licensor.db import Database
    from licensor.licensing.batches import BatchState

app = typer.Typer(help="Activation codes: issue batches, block, look up.", no_args_is_help=True)


_BAR = (
    TextColumn("[bold]{task.description}[/bold]"),
    BarColumn(),
    MofNCompleteColumn(),
    TaskProgressColumn(),
    TimeElapsedColumn(),
    TimeRemainingColumn(),
)

ChunkSize = Annotated[
    int,
    typer.Option(
        min=100,
        max=100_000,
        help="Codes committed a transaction; between them other writers (activations) go.",
    ),
]


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
    chunk_size: ChunkSize = CHUNK,
) -> None:
    """Issue a batch of printed-card codes into a CSV (first column activation_code);
    with --partner, the batch is that partner's allocation. A partner's codes, and with
    --sold-at-till any card, activate only once their sale is recorded.

    Codes are committed a chunk at a time, so activations go on meanwhile. The CSV is
    written as OUT.partial and gets its name once every code is committed. A batch cut
    short (Ctrl-C, a crash) is incomplete: its committed codes are all listed in
    OUT.partial; `licensor codes batches --incomplete` lists it, `licensor codes resume`
    finishes it and `licensor codes discard` removes it."""
    from licensor.licensing.batches import issue_codes

    with command_unit() as unit:  # say "unknown plan" before any bar
        unit.plans.by_code(plan)
        if partner is not None:
            unit.partners.by_slug(partner)
    with command_context() as (settings, database, keyring), _told_if_cut_short():
        with Progress(*_BAR, console=errors) as bar:
            task = bar.add_task("issuing", total=count)
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
                chunk_size=chunk_size,
                progress=lambda n: bar.advance(task, n),
            )
    console.print(f"batch {batch.batch_id}: {batch.count:,} {batch.plan} codes written to {out}")
    if partner is not None or sold_at_till:
        console.print(
            "these codes activate once their sale is recorded "
            "(partner API, or `licensor orders create --partner SLUG --code CODE`)"
        )


@app.command("resume")
def codes_resume(
    batch: Annotated[int, typer.Argument(help="The incomplete batch's number.")],
    out: Annotated[Path, typer.Option(help="CSV for the card printer.", dir_okay=False)],
    chunk_size: ChunkSize = CHUNK,
) -> None:
    """Finish a batch that was cut short: the CSV is written anew, the codes already
    committed first (read back from the database), then the rest issued."""
    from licensor.licensing.batches import resume_batch

    with command_context() as (settings, database, keyring), _told_if_cut_short():
        state = _state(database, batch)
        with Progress(*_BAR, console=errors) as bar:
            task = bar.add_task("resuming", total=state.count if state else None)
            issued = resume_batch(
                database,
                keyring,
                settings,
                batch_id=batch,
                out=out,
                actor=actor(),
                chunk_size=chunk_size,
                progress=lambda n: bar.advance(task, n),
            )
    console.print(f"batch {issued.batch_id}: {issued.count:,} {issued.plan} codes written to {out}")


@app.command("batches")
def codes_batches(
    incomplete: Annotated[
        bool, typer.Option("--incomplete", help="Only batches cut short.")
    ] = False,
) -> None:
    """List the batches: plan, label, partner, codes held of those asked for."""
    from licensor.licensing.batches import batch_states

    with command_context() as (_settings, database, _keyring):
        states = batch_states(database, incomplete_only=incomplete)
    table = Table("batch", "plan", "label", "partner", "created")
    table.add_column("codes", no_wrap=True)  # held/asked: whole, or it misleads
    table.add_column("state", no_wrap=True)
    table.add_column("CSV downloaded")
    table.add_column("blocked", no_wrap=True)
    for state in states:
        table.add_row(
            str(state.batch_id),
            state.plan,
            state.label,
            state.partner or "",
            state.created_at.strftime("%Y-%m-%d %H:%M"),
            f"{state.held:,}/{state.count:,}",
            "complete" if state.complete else "INCOMPLETE",
            (
                f"{state.csv_downloaded_by} {state.csv_downloaded_at:%Y-%m-%d %H:%M}"
                if state.csv_downloaded_at
                else ""
            ),
            f"{state.blocked_at:%Y-%m-%d}" if state.blocked_at else "",
        )
    console.print(table)


@app.command("batch-block")
def codes_batch_block(
    batch: Annotated[int, typer.Argument(help="The batch's number.")],
    reason: Annotated[str, typer.Option(help="Why: grey market, stolen cards, leaked…")],
) -> None:
    """Block a batch whole: every code of it and their licenses stop activating and
    validating (audited)."""
    from licensor.licensing.card_batches import CardBatches

    with command_unit() as unit:
        blocked = unit.service(CardBatches).block(batch, reason=reason)
    console.print(f"batch {batch} blocked ({blocked:,} codes): {reason}", highlight=False)


@app.command("batch-allocate")
def codes_batch_allocate(
    batch: Annotated[int, typer.Argument(help="The batch's number.")],
    partner: Annotated[str, typer.Option(help="The partner's slug.")],
) -> None:
    """Allocate a batch to a partner, while none of its codes is sold or activated: its
    codes then activate once the partner records each sale (audited)."""
    from licensor.licensing.card_batches import CardBatches

    with command_unit() as unit:
        unit.service(CardBatches).allocate(batch, partner)
    console.print(f"batch {batch} allocated to {partner.strip().lower()}", highlight=False)


@app.command("batch-csv")
def codes_batch_csv(
    batch: Annotated[int, typer.Argument(help="The batch's number.")],
    out: Annotated[Path, typer.Option(help="CSV for the card printer.", dir_okay=False)],
) -> None:
    """Write a batch's printer CSV (first column activation_code), once: a batch's CSV is
    handed out once, from here or the console (audited), until ``batch-csv-allow`` (or an
    admin in the console) allows one more."""
    from licensor.licensing.card_batches import CSV_COLUMNS, CardBatches, csv_lines

    with command_unit() as unit:
        unit.service(CardBatches).take_csv(batch)
    with command_context() as (_settings, database, keyring):
        partial = out.with_name(out.name + ".partial")
        # Codes in clear, for the printer: readable by their owner only.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        written = 0
        with os.fdopen(descriptor, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for lines in csv_lines(database, keyring, batch):
                writer.writerows(lines)
                written += len(lines)
        partial.replace(out)
    console.print(f"batch {batch}: {written:,} codes written to {out}")


@app.command("batch-csv-allow")
def codes_batch_csv_allow(
    batch: Annotated[int, typer.Argument(help="The batch's number.")],
    reason: Annotated[str, typer.Option(help="Why: the printer's file was lost, say.")],
) -> None:
    """Let a batch's printer CSV be handed out once more (audited with who had it), as the
    console's "Allow one more download" does."""
    from licensor.licensing.card_batches import CardBatches

    with command_unit() as unit:
        unit.service(CardBatches).allow_csv_again(batch, reason=reason)
    console.print(f"batch {batch}: its CSV may be written once more", highlight=False)


@app.command("discard")
def codes_discard(
    batch: Annotated[int, typer.Argument(help="The incomplete batch's number.")],
) -> None:
    """Remove a batch that was cut short, and its codes: only while none of them is sold,
    linked, activated or blocked (a complete batch's cards may be printed: block them)."""
    from licensor.licensing.batches import discard_batch

    with command_context() as (settings, database, keyring):
        removed = discard_batch(database, keyring, settings, batch_id=batch, actor=actor())
    console.print(f"batch {batch} removed with its {removed:,} codes")


def _state(database: Database, batch_id: int) -> BatchState | None:
    from licensor.licensing.batches import batch_states

    return next((s for s in batch_states(database) if s.batch_id == batch_id), None)


@contextmanager
def _told_if_cut_short() -> Iterator[None]:
    try:
        yield
    except BatchCutShort as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from None


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


@app.command("unblock")
def codes_unblock(
    code: Annotated[str, typer.Argument(help="The activation code.")],
    reason: Annotated[str, typer.Option(help="Why the block is lifted.")],
) -> None:
    """Lift a code's block: it activates again (its license validates again). Refused for
    a code whose batch is blocked whole, whose order was refunded, or that was replaced."""
    from licensor.licensing.staff_actions import StaffActions

    with command_unit() as unit:
        found = unit.codes.find_code(code)
        unblocked = unit.service(StaffActions).unblock_code(found.id, reason=reason, actor=actor())
        masked = formats.mask_code(formats.normalize_code(code))
        console.print(f"unblocked {masked} (code #{unblocked.id}, now {unblocked.state}): {reason}")


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
            print_report(report)


def print_report(report: dict[str, Any]) -> None:
    """A code's or license's report as a table, with its seats (``licensor licenses show``
    too)."""
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
        "license_status",
        "starts_at",
        "expires_at",
        "reserved_for",
        "reserve_starts_at",
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
