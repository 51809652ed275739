"""``licensor-client lease checkout|heartbeat|release``: a floating license's lease, for
scripts that run an app's session (check out, renew while working, check in)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from licensor_client import LicenseClient
from licensor_client.cli.failures import OK

if TYPE_CHECKING:
    from licensor_client.cli.commands import Output

ACTIONS = ("checkout", "heartbeat", "release")


def lease_command(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    """Check out, renew or check in this device's lease; print what the server signed."""
    action = arguments.action
    if action == "checkout":
        lease = client.checkout()
    elif action == "heartbeat":
        lease = client.heartbeat()
    else:
        lease = client.checkin()
    if lease.held and lease.expires_at is not None:
        held = f"seat held until {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC"
    else:
        held = "no seat held by this device"
    output.emit(
        {"action": action, **lease.as_dict()},
        [
            f"Floating license {lease.public_id}: {held}.",
            f"Seats in use: {lease.leases_used} of {lease.leases_max}.",
        ],
    )
    return OK
