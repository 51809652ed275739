"""``licensor-client shared --email E [PUBLIC_ID]``: the licenses shared with the
customer's account (family sharing), and a seat of one for this device."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from licensor_client import LicenseClient
from licensor_client.cli.failures import OK

if TYPE_CHECKING:
    from licensor_client.cli.commands import Output


def shared_command(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    """Without PUBLIC_ID, list the licenses shared with the account; with it, activate
    that one here."""
    from licensor_client.cli.commands import _secret, describe  # the module that imports us

    password = _secret("LICENSOR_PASSWORD", f"Password for {arguments.email}: ")
    if arguments.public_id:
        info = client.activate_shared(arguments.public_id, arguments.email, password)
        output.emit(
            {"status": "activated", **info.as_dict()},
            ["Activated with a license shared with you.", *describe(info)],
        )
        return OK
    shared = client.shared_licenses(arguments.email, password)
    lines = [
        f"{row.public_id}  {row.plan_name}, {row.status}, shared by {row.shared_by}, "
        f"devices {row.devices_used} of {row.devices_max}"
        for row in shared
    ] or ["No license is shared with this account."]
    output.emit({"licenses": [row.as_dict() for row in shared]}, lines)
    return OK
