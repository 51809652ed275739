"""``licensor licenses``: look a license up, extend its term, release its seats; what the
console's license page does, through the same service (licensing/staff_actions.py)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from licensor.cli.codes import print_report
from licensor.cli.leases import print_leases
from licensor.cli.shell import actor, command_unit, console
from licensor.licensing.licenses import MAX_EXTENSION_DAYS

app = typer.Typer(
    help="Licenses: show, extend the term, release seats, set limits.", no_args_is_help=True
)

PublicId = Annotated[str, typer.Argument(help="The license's public ID (LIC-XXXX-XXXX).")]
Reason = Annotated[str, typer.Option(help="Why (for the audit log).")]


@app.command("show")
def licenses_show(
    license: Annotated[str, typer.Argument(help="A license key or a public ID.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A license's plan, status, term, devices and code (masked)."""
    from licensor.licensing.lease_actions import LeaseActions, lease_rows
    from licensor.licensing.report import code_report

    with command_unit() as unit:
        report = code_report(unit, license, reveal=False, actor=actor())
        if report.get("public_id"):
            found = unit.licenses.by_public_id(report["public_id"])
            report["leases"] = lease_rows(unit.service(LeaseActions).holders(found))
    if as_json:
        console.print_json(json.dumps(report))
    else:
        print_report(report)
        print_leases(report.get("leases") or [])


@app.command("extend")
def licenses_extend(
    public_id: PublicId,
    reason: Reason,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_EXTENSION_DAYS, help="Days to add to the current end."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="The new last day instead (YYYY-MM-DD)."),
    ] = None,
) -> None:
    """Extend the term by --days (from its end, or from today if it has ended) or to
    --until; the owner is told by mail. A subscription's term follows its billing."""
    from licensor.licensing.staff_actions import StaffActions

    with command_unit() as unit:
        license = unit.service(StaffActions).extend_term(
            public_id,
            days=days,
            until=until.date() if until else None,
            reason=reason,
            actor=actor(),
        )
        ends = license.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        console.print(f"license {license.public_id} now ends {ends}")


@app.command("release")
def licenses_release(
    public_id: PublicId,
    reason: Reason,
    device: Annotated[
        str | None, typer.Option(help="The fingerprint of the device whose seat is freed.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Free every seat.")] = False,
) -> None:
    """Free one device's seat (--device FINGERPRINT) or every seat (--all); the owner is
    told by mail."""
    from licensor.licensing.staff_actions import StaffActions

    if (device is None) == (not every):
        raise typer.BadParameter("give either --device FINGERPRINT or --all")
    with command_unit() as unit:
        freed = unit.service(StaffActions).release_seats(
            public_id, fingerprint=device, reason=reason, actor=actor()
        )
    seats = "1 seat" if freed == 1 else f"{freed} seats"
    console.print(f"license {public_id.strip().upper()}: {seats} released")


@app.command("release-lease")
def licenses_release_lease(
    public_id: PublicId,
    reason: Reason,
    device: Annotated[
        str, typer.Option(help="The fingerprint of the device whose floating lease is freed.")
    ],
) -> None:
    """Free the lease a device holds on a floating license (audited); its next heartbeat
    is refused, and another device can take the lease."""
    from licensor.licensing.lease_actions import LeaseActions

    with command_unit() as unit:
        freed = unit.service(LeaseActions).free_by_staff(
            public_id, fingerprint=device, reason=reason, actor=actor()
        )
    said = "lease freed" if freed else "that device holds no live lease"
    console.print(f"license {public_id.strip().upper()}: {said}")


@app.command("set-devices")
def licenses_set_devices(
    public_id: PublicId,
    reason: Reason,
    devices: Annotated[
        int | None,
        typer.Argument(min=1, help="The license's own device limit; omit with --plan."),
    ] = None,
    plan: Annotated[bool, typer.Option("--plan", help="Back to the plan's limit.")] = False,
) -> None:
    """Give one license its own device limit (or, with --plan, its plan's again); audited.
    A lower limit frees no seat: no new device takes one until enough are released."""
    from licensor.licensing.seats import devices_limit
    from licensor.licensing.staff_actions import StaffActions

    if (devices is None) == (not plan):
        raise typer.BadParameter("give either a number of devices or --plan")
    with command_unit() as unit:
        license = unit.service(StaffActions).set_devices(
            public_id, devices, reason=reason, actor=actor()
        )
        own = "its own" if license.devices_max is not None else "its plan's"
        console.print(
            f"license {license.public_id}: up to {devices_limit(license)} devices ({own} limit)",
            highlight=False,
        )


@app.command("grant-transfer")
def licenses_grant_transfer(public_id: PublicId, reason: Reason) -> None:
    """Allow the license one more transfer to another device than its plan's cap; audited."""
    from licensor.licensing.staff_actions import StaffActions

    with command_unit() as unit:
        actions = unit.service(StaffActions)
        license = actions.grant_transfer(public_id, reason=reason, actor=actor())
        left = actions.transfers_left(license)
        said = "no cap" if left is None else f"{left} transfer(s) left in this period"
        console.print(
            f"license {license.public_id}: one more transfer granted ({said})", highlight=False
        )
