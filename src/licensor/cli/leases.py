"""How ``licensor licenses show`` prints a floating license's leases."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from licensor.cli.shell import console


def print_leases(leases: list[dict[str, Any]]) -> None:
    """Who holds each live lease: device, fingerprint, since when, until when."""
    if not leases:
        return
    table = Table("lease held by", "fingerprint", "since", "until", title="leases")
    for lease in leases:
        table.add_row(
            lease["device_name"], lease["fingerprint"], lease["checked_out_at"], lease["expires_at"]
        )
    console.print(table)
