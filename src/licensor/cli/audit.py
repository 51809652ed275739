"""``licensor audit``: read the audit trail (``list``, as the console's /console/audit
does, through accounts/audit_log.py) and check its hash chain against a witness kept
outside the database (``verify``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from licensor.cli.shell import command_context, console, errors
from licensor.dates import plural

app = typer.Typer(
    help="The audit trail: append-only, hash-chained; read it, check it.", no_args_is_help=True
)


@app.command("list")
def audit_list(
    actor: Annotated[
        str, typer.Option(help="Exactly: account:12, cli:NAME, payments:stripe.")
    ] = "",
    actor_email: Annotated[str, typer.Option(help="The actor's account, by email.")] = "",
    action: Annotated[str, typer.Option(help="An action, or a prefix ending in '.'.")] = "",
    subject: Annotated[str, typer.Option(help="TYPE:ID, e.g. license:42.")] = "",
    since: Annotated[str, typer.Option(help="From this day (YYYY-MM-DD, UTC).")] = "",
    until: Annotated[str, typer.Option(help="To this day, included (YYYY-MM-DD, UTC).")] = "",
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", help="Write the rows to this CSV file instead.", dir_okay=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="At most this many rows (default: 50 shown; a CSV all)."),
    ] = None,
) -> None:
    """The audit trail, newest first, filtered. A CSV export is itself audited
    (``audit.exported``), as in the console."""
    from licensor.accounts.audit_log import AuditLog, parse_filter
    from licensor.cli.shell import command_unit
    from licensor.errors import FormInvalid
    from licensor.web.messages import field_message

    try:
        with command_unit() as unit:
            log = unit.service(AuditLog)
            wanted = log.resolved(
                parse_filter(
                    actor=actor,
                    actor_email=actor_email,
                    action=action,
                    subject=subject,
                    since=since,
                    until=until,
                )
            )
            if csv_file is None:
                rows = list(log.every(wanted, limit=limit or 50))
            else:
                unit.audit(
                    "audit.exported",
                    subject_type="audit_log",
                    subject_id=None,
                    filter=wanted.as_details(),
                    file=str(csv_file),
                )
    except FormInvalid as error:
        for field, problem in error.fields.items():
            message = (
                "no account has this email"
                if problem == "actor_email_unknown"
                else field_message(problem)
            )
            errors.print(f"[red]error:[/red] {field}: {message}")
        raise typer.Exit(1) from None
    if csv_file is None:
        for row in rows:
            who = f"{row.actor} ({row.actor_email})" if row.actor_email else row.actor
            subject_text = row.subject_type + (
                f":{row.subject_id}" if row.subject_id is not None else ""
            )
            details = json.dumps(row.details, sort_keys=True, ensure_ascii=False)
            reason = f" reason={row.reason!r}" if row.reason else ""
            console.print(
                f"{row.occurred_at.isoformat(timespec='seconds')} {who} {row.action} "
                f"{subject_text}{reason} {details}",
                highlight=False,
                markup=False,
            )
        return
    with command_unit() as unit, csv_file.open("w", newline="", encoding="utf-8") as handle:
        handle.writelines(unit.service(AuditLog).csv_chunks(wanted, limit=limit))
    console.print(f"wrote {csv_file}", highlight=False)


@app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    witness: Annotated[
        Path | None,
        typer.Option(
            help="Where the head seen at the last verification is kept (default: "
            "LICENSOR_VAR_DIR/audit-witness.json); keep it off the database's host.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Walk the audit trail's hash chain: find edited rows, deleted rows (also the newest),
    rows written outside the chain, a head rolled back since the last verification. Exit 0
    when intact (and the witness is brought up to date), 1 when not."""
    from licensor.audit import verify
    from licensor.files import write_private

    with command_context() as (settings, database, _keyring):
        witness = witness or settings.var_dir / "audit-witness.json"
        seen = _read_witness(witness)
        with database.transaction() as session:
            found = verify(session, database.audit_key, witness=seen)
        if found.intact:
            write_private(
                witness,
                json.dumps({"seq": found.head_seq, "last_hash": found.head_hash.hex()}).encode(),
            )
    if as_json:
        print(
            json.dumps(
                {
                    "intact": found.intact,
                    "chained": found.chained,
                    "head": found.head_seq,
                    "legacy": found.legacy,
                    "problems": found.problems,
                }
            )
        )
    elif found.intact:
        console.print(
            f"[green]audit trail intact[/green]: {_rows(found.chained)} chained, "
            f"the head at {found.head_seq}"
            + (
                f"; {_rows(found.legacy, 'older row')} from before the chain"
                if found.legacy
                else ""
            )
        )
    else:
        for problem in found.problems:
            errors.print(f"[red]tampered:[/red] {problem}")
        errors.print(f"{_rows(found.chained)} chained, the head at {found.head_seq}")
    if not found.intact:
        raise typer.Exit(1)


def _read_witness(path: Path) -> Any:
    from licensor.audit import Witness

    if not path.exists():
        return None
    try:
        seen = json.loads(path.read_text())
        return Witness(int(seen["seq"]), bytes.fromhex(seen["last_hash"]))
    except (ValueError, KeyError, TypeError):
        errors.print(f"[red]error:[/red] {path} is not an audit witness")
        raise typer.Exit(1) from None


def _rows(count: int, what: str = "row") -> str:
    return plural(count, "en", one=f"{{count}} {what}", other=f"{{count}} {what}s")
