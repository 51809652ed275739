"""The ``licensor-client`` command: the SDK on the command line, for scripts and support.

Human-readable output by default, ``--json`` for scripts; the exit status tells each
kind of failure apart (``EXIT_CODES``, also listed in ``--help``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from licensor_client._client import LicenseClient, LicenseInfo, read_enrollment
from licensor_client._state import StateStore
from licensor_client.exceptions import (
    BackupError,
    CodeBlocked,
    CodeMalformed,
    CodeUnknown,
    DeviceCodeExpired,
    DeviceLimitReached,
    EmailNotVerified,
    EnrollmentFileInvalid,
    EnrollmentTokenInvalid,
    InvalidCredentials,
    LicenseExpired,
    LicenseLinkedElsewhere,
    LicensorClientError,
    NetworkError,
    NotActivated,
    RateLimited,
    ServerError,
    VerificationError,
)

OK = 0
FAILED = 1
USAGE = 2
#: Exit status per failure, most specific first (``isinstance`` order matters).
EXIT_CODES: list[tuple[type[LicensorClientError], int, str]] = [
    (NetworkError, 3, "the license server cannot be reached"),
    (CodeMalformed, 5, "the activation code is mistyped"),
    (CodeUnknown, 6, "the activation code is unknown"),
    (CodeBlocked, 7, "the activation code is blocked"),
    (DeviceLimitReached, 8, "the license is on all the devices it allows"),
    (LicenseExpired, 9, "the license has expired"),
    (InvalidCredentials, 10, "wrong email or password"),
    (EmailNotVerified, 11, "the account's email address is not confirmed yet"),
    (LicenseLinkedElsewhere, 11, "the license belongs to another account"),
    (DeviceCodeExpired, 11, "the connect code expired"),
    (EnrollmentTokenInvalid, 11, "the download's one-time link was used or has expired"),
    (EnrollmentFileInvalid, 2, "not an enrollment file from My Account"),
    (RateLimited, 12, "too many attempts"),
    (VerificationError, 13, "an answer or license file failed verification"),
    (NotActivated, 14, "no license on this device"),
    (BackupError, 15, "the backup cannot be restored"),
]
NOT_VALID = 4  # status: the server (or the license file) says the license is not valid

HINTS: dict[type[LicensorClientError], str] = {
    CodeMalformed: "check the code for typos (0 and O, 1 and I are read the same)",
    CodeBlocked: "contact customer support",
    DeviceLimitReached: (
        "remove the license from another device (in its app, or in My Account → Devices)"
    ),
    NotActivated: "activate a code first: licensor-client activate CODE",
    EmailNotVerified: "open the link in the confirmation email we sent, then try again",
}

DESCRIPTION = """\
Activate, check and move a Licensor license on this device.

Commands:
  activate CODE       redeem an activation code on this device
  status              check the license online, or from the license file when offline
  details             show the license: key, public ID, plan, term, devices
  recover --email E   send this license to your account, where its activation code is
                      listed (password from LICENSOR_PASSWORD or a prompt)
  connect             connect this device to your account with a short code
  enroll TOKEN | --file FILE
                      activate a subscription with the one-time token of an app
                      downloaded from My Account (the file also names the server)
  release             free this device's seat so the license can move
  export FILE         save a license backup (before reinstalling the system)
  import FILE         restore a license backup
"""

EPILOG = """\
environment:
  LICENSOR_SERVER        the server, when --server is not given
  LICENSOR_PUBLIC_KEYS   the vendor's signing keys (id:key,...); without them the keys
                         are fetched once and pinned in the state directory
  LICENSOR_PASSWORD      the account password for recover
  LICENSOR_BACKUP_PASSPHRASE  the backup passphrase for export/import --passphrase
  LICENSOR_FINGERPRINT   overrides the fingerprint derived from this machine (virtual
                         machines, tests)

exit status:
  0  done          1  other failure   2  usage       3  no network
  4  license not valid (status)       5  code mistyped
  6  code unknown  7  code blocked    8  device limit reached
  9  license expired                  10 wrong email or password
  11 account refused (email not confirmed, another account, code or link expired)
  12 rate limited  13 verification failed (tampered, forged, replayed, stale)
  14 no license on this device        15 backup cannot be restored
"""


def build_parser() -> argparse.ArgumentParser:
    # The global options are accepted before or after the command.
    common = argparse.ArgumentParser(add_help=False)
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
    parser = argparse.ArgumentParser(
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
        "code", metavar="CODE"
    )
    command("status", "Check the license (online; offline from the license file).")
    command("details", "Show the license: key, public ID, plan, term, devices.")
    command("recover", "Send this license to your account.").add_argument(
        "--email", metavar="E", required=True
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
    return parser


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def emit(self, data: dict[str, Any], lines: list[str]) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            print("\n".join(lines))


def _date(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "—"


def describe(info: LicenseInfo, *, with_key: bool = False) -> list[str]:
    checked = {
        "online": "checked online",
        "offline": "checked offline, from the license file",
        "stored": "as last checked",
    }[info.source]
    verdict = "valid" if info.valid else "NOT valid"
    lines = [
        f"License {info.public_id}: {info.status}, {verdict} ({checked})",
        f"  Plan:        {info.plan_name or info.plan}",
        f"  Expires:     {_date(info.expires_at)}",
        "  Devices:     "
        + (
            f"{info.devices_used} of {info.devices_max}"
            if info.devices_used is not None
            else f"up to {info.devices_max}"
        ),
    ]
    if info.valid:
        lines.append(f"  Offline until: {_date(info.valid_until)}")
    if with_key:
        lines.insert(1, f"  License key: {info.grouped_license_key}")
    return lines


def _secret(environment_name: str, prompt: str) -> str:
    value = os.environ.get(environment_name)
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"set {environment_name} or run in a terminal to be asked")
    return getpass.getpass(prompt)


class UsageError(Exception):
    pass


def run(arguments: argparse.Namespace) -> int:
    output = Output(getattr(arguments, "json", False))
    state_dir = getattr(arguments, "state_dir", None)
    server = getattr(arguments, "server", None) or os.environ.get("LICENSOR_SERVER")
    keys = getattr(arguments, "public_keys", None) or os.environ.get("LICENSOR_PUBLIC_KEYS")
    if arguments.command == "enroll":
        if bool(arguments.token) == bool(arguments.file):
            raise UsageError("give the TOKEN or --file FILE")
        if arguments.file:
            enrollment = read_enrollment(arguments.file)
            arguments.token = enrollment.token
            server = server or enrollment.server
            keys = keys or ",".join(f"{k}:{v}" for k, v in enrollment.public_keys.items())
    if server is None and state_dir:
        stored = StateStore(Path(state_dir)).load()
        server = stored.get("server") if stored else None
    if not server:
        raise UsageError("say which server: --server URL (or LICENSOR_SERVER)")
    try:
        client = LicenseClient(server, keys, state_dir=state_dir, app_id="licensor-client")
    except ValueError as error:
        raise UsageError(str(error)) from error
    with client:
        handler = HANDLERS[arguments.command]
        return handler(client, arguments, output)


def _activate(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    info = client.activate(arguments.code)
    output.emit(
        {"status": "activated", **info.as_dict()},
        ["Activated.", *describe(info, with_key=True)],
    )
    return OK


def _status(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    info = client.status()
    output.emit(info.as_dict(), describe(info))
    return OK if info.valid else NOT_VALID


def _details(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    info = client.details()
    output.emit(info.as_dict(), describe(info, with_key=True))
    return OK


def _enroll(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    info = client.enroll(arguments.token)
    output.emit(
        {"status": "activated", **info.as_dict()},
        ["Activated with your subscription.", *describe(info, with_key=True)],
    )
    return OK


def _recover(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    password = _secret("LICENSOR_PASSWORD", f"Password for {arguments.email}: ")
    linked = client.recover(arguments.email, password)
    already = linked.status == "already_linked"
    output.emit(
        {
            "status": linked.status,
            "public_id": linked.public_id,
            "plan": linked.plan,
            "licenses_url": linked.licenses_url,
        },
        [
            f"License {linked.public_id} "
            + ("was already in your account." if already else "was sent to your account."),
            f"Its activation code is listed in My Account's Licenses section: "
            f"{linked.licenses_url}",
        ],
    )
    return OK


def _connect(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    connect = client.connect_start()
    prompt = [
        f"Open {connect.verification_uri} and enter the code {connect.user_code}",
        f"(or open {connect.verification_uri_complete}).",
    ]
    if arguments.no_wait:
        output.emit(
            {
                "user_code": connect.user_code,
                "verification_uri": connect.verification_uri,
                "verification_uri_complete": connect.verification_uri_complete,
                "expires_in": connect.expires_in,
            },
            prompt,
        )
        return OK
    if not output.as_json:
        print("\n".join([*prompt, "Waiting…"]), flush=True)
    connected = client.connect_wait(connect)
    output.emit(
        {
            "status": "connected",
            "account": connected.account,
            "licenses_linked": list(connected.licenses_linked),
        },
        [f"This device is connected to {connected.account}."]
        + (
            [f"Licenses added: {', '.join(connected.licenses_linked)}"]
            if connected.licenses_linked
            else []
        ),
    )
    return OK


def _release(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    released = client.release()
    output.emit(
        {
            "status": "released",
            "public_id": released.public_id,
            "devices_used": released.devices_used,
            "devices_max": released.devices_max,
        },
        [
            f"License {released.public_id} was removed from this device; "
            f"it is now on {released.devices_used} of {released.devices_max} devices.",
        ],
    )
    return OK


def _export(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    passphrase = (
        _secret("LICENSOR_BACKUP_PASSPHRASE", "Passphrase for the backup: ")
        if arguments.passphrase
        else None
    )
    path = client.export_backup(arguments.file, passphrase)
    output.emit(
        {"status": "saved", "file": str(path), "passphrase": passphrase is not None},
        [
            f"License backup saved to {path}.",
            "Keep it somewhere the reinstall will not erase (a USB stick, cloud storage)."
            + ("" if passphrase else " It can be restored on this machine only."),
        ],
    )
    return OK


def _import(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    passphrase = (
        _secret("LICENSOR_BACKUP_PASSPHRASE", "Passphrase of the backup: ")
        if arguments.passphrase
        else None
    )
    info = client.import_backup(arguments.file, passphrase)
    output.emit({"status": "restored", **info.as_dict()}, ["Restored.", *describe(info)])
    return OK if info.valid else NOT_VALID


HANDLERS: dict[str, Callable[[LicenseClient, argparse.Namespace, Output], int]] = {
    "activate": _activate,
    "status": _status,
    "details": _details,
    "recover": _recover,
    "connect": _connect,
    "enroll": _enroll,
    "release": _release,
    "export": _export,
    "import": _import,
}


def failure(error: LicensorClientError) -> tuple[int, str, str | None]:
    """Exit status, message and hint for an error."""
    for kind, status, summary in EXIT_CODES:
        if isinstance(error, kind):
            detail = str(error)
            message = summary if detail in ("", summary) else f"{summary}: {detail}"
            hint = next((text for cls, text in HINTS.items() if isinstance(error, cls)), None)
            return status, message, hint
    if isinstance(error, ServerError):
        return FAILED, f"the server refused ({error.code}): {error}", None
    return FAILED, str(error), None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    as_json = getattr(arguments, "json", False)
    try:
        return run(arguments)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"licensor-client: error: {error}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("licensor-client: interrupted", file=sys.stderr)
        return 130
    except LicensorClientError as error:
        status, message, hint = failure(error)
        if as_json:
            code = getattr(error, "code", type(error).__name__)
            print(json.dumps({"error": code, "message": message, "exit_status": status}))
        print(f"licensor-client: {message}", file=sys.stderr)
        if hint:
            print(f"  {hint}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
