"""``licensor audit``: check the audit trail's hash chain against a witness kept
outside the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from licensor.cli.shell import command_context, console, errors
from licensor.dates import plural

app = typer.Typer(
    help="The audit trail: append-only, hash-chained; check it.", no_args_is_help=True
)


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
