"""The ``licensor-client`` command: the SDK on the command line, for scripts and support.

Human-readable output by default, ``--json`` for scripts; the exit status tells each
kind of failure apart (``EXIT_CODES``, also listed in ``--help``).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from licensor_client._client import LicenseClient, LicenseInfo, read_enrollment
from licensor_client._state import StateStore, default_state_dir
from licensor_client.exceptions import (
    BackupError,
    ClockTampered,
    CodeBlocked,
    CodeMalformed,
    CodeNotSold,
    CodeUnknown,
    DeviceCodeExpired,
    DeviceLimitReached,
    EmailNotVerified,
    EnrollmentFileInvalid,
    EnrollmentTokenInvalid,
    InsecureServer,
    InvalidCredentials,
    LicenseExpired,
    LicenseLinkedElsewhere,
    LicenseNotActive,
    LicenseNotOnDevice,
    LicenseUnknown,
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
NOT_VALID = 4  # status: the server (or the license file) says the license is not valid
DEFAULT_APP_ID = "licensor-client"
#: Exit status per failure, most specific first (``isinstance`` order matters), and what
#: to say when the error itself says nothing.
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
    (InsecureServer, 2, "the server is plain http on another machine"),
    (RateLimited, 12, "too many attempts"),
    (LicenseNotActive, NOT_VALID, "the license is not valid"),
    (VerificationError, 13, "an answer or license file failed verification"),
    (NotActivated, 14, "no license on this device"),
    (LicenseNotOnDevice, 14, "the license is not active on this device"),
    (LicenseUnknown, 14, "the license server does not know this license"),
    (BackupError, 15, "the backup cannot be restored"),
    (CodeNotSold, 16, "the activation code's sale is not recorded yet"),
]

ACTIVATE_AGAIN = "activate the license's code on this device again: licensor-client activate CODE"
HINTS: dict[type[LicensorClientError], str] = {
    CodeMalformed: "check the code for typos (0 and O, 1 and I are read the same)",
    CodeBlocked: "contact customer support",
    CodeNotSold: (
        "the shop that sold the code must register the sale first; ask it to, then activate again"
    ),
    DeviceLimitReached: (
        "remove the license from another device (in its app, or in My Account → Devices)"
    ),
    NotActivated: "activate a code first: licensor-client activate CODE",
    LicenseNotOnDevice: ACTIVATE_AGAIN,
    LicenseUnknown: ACTIVATE_AGAIN,
    EmailNotVerified: "open the link in the confirmation email we sent, then try again",
    ClockTampered: "check this device's date and time",
    InsecureServer: (
        "use the server's https:// address; on a network you trust, --insecure-http "
        "(LICENSOR_ALLOW_INSECURE_HTTP=1) with the vendor's keys in --public-keys"
    ),
}

DESCRIPTION = """\
Activate, check and move a Licensor license on this device.

Commands:
  activate CODE | -   redeem an activation code on this device (- reads it from
                      standard input, which keeps it out of the shell's history)
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
  import FILE         restore a license backup (--replace: over another valid license)
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
  14 no license on this device (or not active here, or unknown to the server)
  15 backup cannot be restored (export: cannot be saved)
  16 code not sold yet (the shop must register the sale first)
"""


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """Reports a usage error to ``main`` rather than exiting, so that ``--json`` gets
    its error object for those too."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
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
        if name == "import":
            backup.add_argument(
                "--replace",
                action="store_true",
                help="restore even over another license that is still valid on this device",
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


def _new_passphrase() -> str:
    """A passphrase for a new backup: asked twice, since a typo would lock it for good."""
    name = "LICENSOR_BACKUP_PASSPHRASE"
    if os.environ.get(name):
        return os.environ[name]
    first = _secret(name, "Passphrase for the backup: ")
    if not first:
        raise UsageError("the passphrase cannot be empty")
    if getpass.getpass("The same passphrase again: ") != first:
        raise UsageError("the two passphrases differ; nothing was saved")
    return first


class CommandFailed(Exception):
    """A failure the command words itself (not an SDK error)."""

    def __init__(self, code: str, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _cannot(verb: str, error: OSError) -> CommandFailed:
    where = f" {error.filename}" if error.filename else ""
    return CommandFailed("file_error", f"cannot {verb}{where}: {error.strerror or error}")


def _require_license(client: LicenseClient) -> None:
    """Before asking for a secret: no license, no question."""
    if not client.has_license():
        raise NotActivated("no license on this device: enter an activation code")


def run(arguments: argparse.Namespace) -> int:
    output = Output(getattr(arguments, "json", False))
    app_id = getattr(arguments, "app_id", None) or os.environ.get("LICENSOR_APP_ID")
    app_id = app_id or DEFAULT_APP_ID
    state_dir = getattr(arguments, "state_dir", None)
    server = getattr(arguments, "server", None) or os.environ.get("LICENSOR_SERVER")
    keys = getattr(arguments, "public_keys", None) or os.environ.get("LICENSOR_PUBLIC_KEYS")
    insecure = getattr(arguments, "insecure_http", False) or (
        os.environ.get("LICENSOR_ALLOW_INSECURE_HTTP") == "1"
    )
    if arguments.command == "enroll":
        if bool(arguments.token) == bool(arguments.file):
            raise UsageError("give the TOKEN or --file FILE")
        if arguments.file:
            enrollment = read_enrollment(arguments.file)
            arguments.token = enrollment.token
            server = server or enrollment.server
            keys = keys or ",".join(f"{k}:{v}" for k, v in enrollment.public_keys.items())
    store = StateStore(Path(state_dir) if state_dir else default_state_dir(app_id))
    try:
        stored = store.load()
    except OSError as error:
        raise _cannot("read", error) from error
    if not server and stored:
        server = stored.get("server")
    if not server:
        raise UsageError("say which server: --server URL (or LICENSOR_SERVER)")
    try:
        client = LicenseClient(
            server, keys, state_dir=state_dir, app_id=app_id, allow_insecure_http=insecure
        )
    except InsecureServer:
        raise
    except ValueError as error:  # keys or fingerprint override that do not parse
        raise UsageError(str(error)) from error
    with client:
        handler = HANDLERS[arguments.command]
        return handler(client, arguments, output)


def _activate(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    code = arguments.code
    if code == "-":
        if sys.stdin.isatty():
            print("Activation code: ", end="", file=sys.stderr, flush=True)
        code = sys.stdin.readline().strip()
        if not code:
            raise UsageError("no activation code on standard input")
    info = client.activate(code)
    output.emit(
        {"status": "activated", **info.as_dict()},
        ["Activated.", *describe(info, with_key=True)],
    )
    return OK


def _status(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    try:
        info = client.status()
    except LicenseNotActive as refused:
        # Offline, the server's last signed word still counts: show the license as
        # last seen, with its status, and say it is not valid.
        info = dataclasses.replace(client.details(), valid=False, status=refused.status)
        output.emit(
            {**info.as_dict(), "reason": str(refused)},
            [*describe(info), f"  Why:         {refused}"],
        )
        return NOT_VALID
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
    _require_license(client)
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
    lines = [f"This device is connected to {connected.account}."]
    if connected.licenses_linked:
        lines.append(f"Licenses added: {', '.join(connected.licenses_linked)}")
    if connected.license is not None:
        lines += ["Licensed with your subscription.", *describe(connected.license, with_key=True)]
    output.emit(
        {
            "status": "connected",
            "account": connected.account,
            "licenses_linked": list(connected.licenses_linked),
            "license": connected.license.as_dict() if connected.license else None,
        },
        lines,
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
    passphrase: str | None = None
    if arguments.passphrase:
        _require_license(client)
        passphrase = _new_passphrase()
    else:
        _warn_about_the_machine_seal(client)
    try:
        path = client.export_backup(arguments.file, passphrase)
    except OSError as error:
        raise _cannot("write", error) from error
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
    info = client.import_backup(arguments.file, passphrase, replace=arguments.replace)
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


def _warn_about_the_machine_seal(client: LicenseClient) -> None:
    """A backup without a passphrase opens where the machine's identity is the same: say
    so when that identity does not outlive a reinstall, or is no secret."""
    machine = client.machine
    if machine.source == "override":
        warning = (
            "this backup is sealed with LICENSOR_FINGERPRINT, which is kept in clear: "
            "anyone with the file and that value can open it"
        )
    elif not machine.survives_reinstall:
        warning = (
            "this machine's identity changes when the system is reinstalled, so this "
            "backup may not open afterwards"
        )
    else:
        return
    print(f"licensor-client: warning: {warning}; use --passphrase", file=sys.stderr)


def failure(error: LicensorClientError, command: str | None = None) -> tuple[int, str, str | None]:
    """Exit status, message and hint for an error: the error's own sentence, or the
    summary when it has none."""
    hint = next((text for kind, text in HINTS.items() if isinstance(error, kind)), None)
    if isinstance(error, RateLimited) and error.retry_after:
        hint = f"try again in {error.retry_after} seconds"
    for kind, status, summary in EXIT_CODES:
        if isinstance(error, kind):
            if kind is BackupError and command == "export":
                summary = "the backup cannot be saved"
            return status, str(error) or summary, hint
    if isinstance(error, ServerError):
        return FAILED, f"the server refused: {error} ({error.code})", hint
    return FAILED, str(error) or type(error).__name__, hint


def _report(as_json: bool, code: str, message: str, status: int, hint: str | None = None) -> int:
    """The error on stderr (and, with ``--json``, as an object on stdout)."""
    if as_json:
        print(json.dumps({"error": code, "message": message, "exit_status": status}))
    print(f"licensor-client: {message}", file=sys.stderr)
    if hint:
        print(f"  {hint}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    as_json = "--json" in argv  # until the arguments parse
    command: str | None = None
    try:
        arguments = parser.parse_args(argv)
        as_json, command = getattr(arguments, "json", False), arguments.command
        return run(arguments)
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"licensor-client: error: {error}", file=sys.stderr)
        if as_json:
            print(json.dumps({"error": "usage", "message": str(error), "exit_status": USAGE}))
        return USAGE
    except KeyboardInterrupt:
        print("licensor-client: interrupted", file=sys.stderr)
        return 130
    except CommandFailed as error:
        return _report(as_json, error.code, str(error), error.status)
    except LicensorClientError as error:
        status, message, hint = failure(error, command)
        return _report(as_json, error.code, message, status, hint)
    except OSError as error:
        return _report(as_json, "file_error", str(_cannot("write", error)), FAILED)


if __name__ == "__main__":
    sys.exit(main())
