"""``licensor-client``'s command line: its commands, options and help."""

from __future__ import annotations

import argparse
from typing import NoReturn

DEFAULT_APP_ID = "licensor-client"

DESCRIPTION = """\
Activate, check and move a Licensor license on this device.

Commands:
  activate CODE | -   redeem an activation code on this device (- reads it from
                      standard input, which keeps it out of the shell's history)
  release-link [CODE | -]
                      when the license is on all the devices it allows: email its
                      owner a one-time link that frees a seat, no sign-in needed (the
                      owner of record only: the account holding it, or the order's
                      address); without CODE, the license kept on this device
  status              check the license online, or from the license file when offline
  details             show the license: key, public ID, plan, term, devices
  recover --email E   send this license to your account, where its activation code is
                      listed (password from LICENSOR_PASSWORD or a prompt)
  shared --email E [PUBLIC_ID]
                      list the licenses shared with your account, or use one here
  connect             connect this device to your account with a short code
  enroll TOKEN | --file FILE
                      activate a subscription with the one-time token of an app
                      downloaded from My Account (the file also names the server)
  release             free this device's seat so the license can move
  export FILE         save a license backup (before reinstalling the system)
  import FILE         restore a license backup (--replace: over another valid license)
  proof FILE          save a license proof signed by this device, for a support
                      request (instead of a screenshot; - prints it)
  lease checkout | heartbeat | release
                      a floating license's seat: take one, renew it (before it
                      lapses), give it back
  reserve CODE | -    keep a second code of the same plan in reserve: the license is
                      extended at once, the reserve starting when its term ends
  reserve --withdraw  take the reserve code back before it starts
"""

EPILOG = """\
environment:
  LICENSOR_SERVER        the server, when --server is not given
  LICENSOR_PUBLIC_KEYS   the vendor's signing keys (id:key,...); without them the keys
                         are fetched once and pinned in the state directory (delete
                         its signing-keys file to pin them again after a key rotation)
  LICENSOR_APP_ID        the app whose license this is, when --app-id is not given
                         (default licensor-client): it scopes the fingerprint and the
                         default state directory
  LICENSOR_ALLOW_INSECURE_HTTP=1  as --insecure-http
  LICENSOR_PASSWORD      the account password for recover and shared
  LICENSOR_BACKUP_PASSPHRASE  the backup passphrase for export/import --passphrase
  LICENSOR_FINGERPRINT   overrides the fingerprint derived from this machine (virtual
                         machines, tests)

exit status:
  0  done          1  other failure   2  usage       3  no network
  4  license not valid (status)       5  code mistyped
  6  code unknown  7  code blocked    8  device (or floating seat) limit reached
  9  license expired                  10 wrong email or password
  11 account refused (email not confirmed, another account, code or link expired)
  12 rate limited  13 verification failed (tampered, forged, replayed, stale)
  14 no license on this device (or not active here, or unknown to the server)
  15 backup cannot be restored (export: cannot be saved)
  16 code not sold yet (the shop must register the sale first)
"""


class UsageError(Exception):
    """The command line is wrong: said on stderr with the usage, exit status 2."""


class Parser(argparse.ArgumentParser):
    """Reports a usage error to ``main`` rather than exiting, so that ``--json`` gets
    its error object for those too."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``licensor-client`` command line: global options, then one command."""
    # The global options are accepted before or after the command.
    common = Parser(add_help=False)
    common.add_argument(
        "--server", metavar="URL", default=argparse.SUPPRESS, help="the Licensor server"
    )
    common.add_argument(
        "--state-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where this device keeps its license (default: the per-user state directory)",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    common.add_argument(
        "--public-keys", metavar="KEYS", default=argparse.SUPPRESS, help="id:key,... to pin"
    )
    common.add_argument(
        "--app-id",
        metavar="ID",
        default=argparse.SUPPRESS,
        help=f"the app whose license this is (default: {DEFAULT_APP_ID})",
    )
    common.add_argument(
        "--insecure-http",
        action="store_true",
        default=argparse.SUPPRESS,
        help="allow a plain http:// server on another machine (keys are then never fetched "
        "from it: give --public-keys)",
    )
    parser = Parser(
        prog="licensor-client",
        usage="%(prog)s [--server URL] [--state-dir DIR] [--json] COMMAND [ARGUMENTS]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help=argparse.SUPPRESS
    )

    def command(name: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, description=description, parents=[common])

    command("activate", "Redeem an activation code on this device.").add_argument(
        "code",
        metavar="CODE",
        help="the activation code, or - to read it from standard input (out of the shell's "
        "history)",
    )
    command(
        "release-link",
        "Email the license's owner a one-time link that frees one of its seats.",
    ).add_argument(
        "code",
        metavar="CODE",
        nargs="?",
        help="the activation code that met the device limit, or - to read it from standard "
        "input; without it, the license kept on this device",
    )
    command("status", "Check the license (online; offline from the license file).")
    command("details", "Show the license: key, public ID, plan, term, devices.")
    command("recover", "Send this license to your account.").add_argument(
        "--email", metavar="E", required=True
    )
    shared = command("shared", "List the licenses shared with your account, or use one here.")
    shared.add_argument("--email", metavar="E", required=True)
    shared.add_argument(
        "public_id", metavar="PUBLIC_ID", nargs="?", help="the shared license to use on this device"
    )
    connect = command("connect", "Connect this device to your account with a short code.")
    connect.add_argument(
        "--no-wait", action="store_true", help="print the code and exit, without waiting"
    )
    enroll = command("enroll", "Activate a subscription with a download's one-time token.")
    enroll.add_argument("token", metavar="TOKEN", nargs="?")
    enroll.add_argument(
        "--file", metavar="FILE", help="licensor-enrollment.json from My Account's download"
    )
    command("release", "Free this device's seat so the license can move.")
    for name, text in (
        ("export", "Save a license backup to FILE."),
        ("import", "Restore the license backup in FILE."),
    ):
        backup = command(name, text)
        backup.add_argument("file", metavar="FILE")
        backup.add_argument(
            "--passphrase",
            action="store_true",
            help="use a passphrase (LICENSOR_BACKUP_PASSPHRASE or a prompt), so the backup "
            "can be restored on another machine",
        )
        if name == "import":
            backup.add_argument(
                "--replace",
                action="store_true",
                help="restore even over another license that is still valid on this device",
            )
    command("lease", "A floating license's seat: check out, renew or check in.").add_argument(
        "action", choices=("checkout", "heartbeat", "release")
    )
    reserve = command(
        "reserve", "Keep a second code in reserve: it extends the license when its term ends."
    )
    reserve.add_argument(
        "code", metavar="CODE", nargs="?", help="the activation code, or - to read it from stdin"
    )
    reserve.add_argument(
        "--withdraw", action="store_true", help="take the reserve code back before it starts"
    )
    command(
        "proof", "Save a license proof signed by this device's key, to send to support."
    ).add_argument("file", metavar="FILE", help="where to save it, or - to print it")
    return parser
