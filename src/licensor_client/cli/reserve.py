"""``licensor-client reserve CODE`` and ``reserve --withdraw``: a second code kept in
reserve, extending the license when its term ends (docs/reserve-codes.md)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from licensor_client import LicenseClient
from licensor_client.cli.arguments import UsageError
from licensor_client.cli.failures import OK

if TYPE_CHECKING:
    from licensor_client.cli.commands import Output


def reserve_command(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    """Add the code in reserve, or withdraw the reserve; print the license as it is now."""
    from licensor_client.cli.commands import describe  # commands imports this module

    if arguments.withdraw:
        if arguments.code:
            raise UsageError("give a code, or --withdraw, not both")
        info = client.withdraw_reserve()
        output.emit(
            {**info.as_dict(), "action": "withdrawn"},
            ["Reserve code withdrawn.", *describe(info)],
        )
        return OK
    if not arguments.code:
        raise UsageError("give the activation code to keep in reserve, or --withdraw")
    info = client.add_reserve_code(_typed(arguments.code))
    output.emit({**info.as_dict(), "action": "reserved"}, ["Reserve code added.", *describe(info)])
    return OK


def _typed(code: str) -> str:
    """The code as given, or read from standard input for ``-`` (out of the history)."""
    if code != "-":
        return code
    if sys.stdin.isatty():
        print("Activation code: ", end="", file=sys.stderr, flush=True)
    code = sys.stdin.readline().strip()
    if not code:
        raise UsageError("no activation code on standard input")
    return code
