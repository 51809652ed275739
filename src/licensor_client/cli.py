"""The ``licensor-client`` command: what a support agent or a script runs on a device.

Only the command line is in place so far: ``--help`` describes the commands, and each
command says it is not available yet (exit 2) rather than pretending to work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

NOT_AVAILABLE = 2

DESCRIPTION = """\
Activate, check and move a Licensor license on this device.

Commands (upcoming):
  activate CODE       redeem an activation code on this device
  status              check the license online, or from the license file when offline
  details             show the license: plan, term, devices, public id
  recover --email E   find the licenses linked to an account (password from
                      LICENSOR_PASSWORD or a prompt)
  release             free this device's seat so the license can move
  export FILE         save the license state to a file, for another machine
  import FILE         restore the license state saved by export
"""

EPILOG = """\
LICENSOR_FINGERPRINT overrides the fingerprint derived from this machine (virtual
machines, tests).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="licensor-client",
        usage="%(prog)s [--server URL] [--state-dir DIR] COMMAND [ARGUMENTS]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--server", metavar="URL", help="the Licensor server's base URL")
    parser.add_argument(
        "--state-dir", metavar="DIR", help="where this device keeps its license state"
    )
    # The commands are listed by hand in the description, with their arguments.
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help=argparse.SUPPRESS
    )
    commands.add_parser("activate", description="Redeem an activation code.").add_argument(
        "code", metavar="CODE"
    )
    commands.add_parser("status", description="Check the license.")
    commands.add_parser("details", description="Show the license.")
    commands.add_parser(
        "recover", description="Find the licenses linked to an account."
    ).add_argument("--email", metavar="E", required=True)
    commands.add_parser("release", description="Free this device's seat.")
    commands.add_parser("export", description="Save the license state.").add_argument(
        "file", metavar="FILE"
    )
    commands.add_parser("import", description="Restore a saved license state.").add_argument(
        "file", metavar="FILE"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line; every command is announced but not available yet."""
    arguments = build_parser().parse_args(argv)
    print(
        f"licensor-client: '{arguments.command}' is not available yet in this version",
        file=sys.stderr,
    )
    return NOT_AVAILABLE
