"""What each ``licensor-client`` command does, and what it prints: lines for people,
``--json`` objects for scripts (``Output``). ``run`` carries out one command once its
arguments are parsed; a failure is raised for ``main`` (``cli/__init__.py``) to report."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from licensor_client import LicenseClient, LicenseInfo, read_enrollment
from licensor_client._state import StateStore, default_state_dir
from licensor_client.cli.arguments import DEFAULT_APP_ID, UsageError
from licensor_client.cli.failures import NOT_VALID, OK, cannot
from licensor_client.cli.leases import lease_command
from licensor_client.cli.reserve import reserve_command
from licensor_client.cli.sharing import shared_command
from licensor_client.exceptions import InsecureServer, LicenseNotActive, NotActivated


class Output:
    """Where a command's result goes: as lines, or as one JSON object (``--json``)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def emit(self, data: dict[str, Any], lines: list[str]) -> None:
        """Print the result: ``data`` with ``--json``, else ``lines``."""
        if self.as_json:
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            print("\n".join(lines))


def _date(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "—"


def describe(info: LicenseInfo, *, with_key: bool = False) -> list[str]:
    """The license as lines for people; ``with_key`` adds the grouped license key."""
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
        f"  Entitlements: {', '.join(info.entitlements) or '—'}",
    ]
    if info.reserve_starts_at:
        lines.insert(3, f"  Reserve:     a reserve code starts {_date(info.reserve_starts_at)}")
    if info.reason:
        lines.append(f"  Reason:      {info.reason}")
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


def _require_license(client: LicenseClient) -> None:
    """Before asking for a secret: no license, no question."""
    if not client.has_license():
        raise NotActivated("no license on this device: enter an activation code")


def run(arguments: argparse.Namespace) -> int:
    """Carry out one parsed command; its exit status, or a failure raised for ``main``."""
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
        raise cannot("read", error) from error
    if not server and stored:
        server = stored.server
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


def _typed_code(code: str) -> str:
    """The code as given, or read from standard input for ``-`` (out of the history)."""
    if code != "-":
        return code
    if sys.stdin.isatty():
        print("Activation code: ", end="", file=sys.stderr, flush=True)
    code = sys.stdin.readline().strip()
    if not code:
        raise UsageError("no activation code on standard input")
    return code


def _activate(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    info = client.activate(_typed_code(arguments.code))
    output.emit(
        {"status": "activated", **info.as_dict()},
        ["Activated.", *describe(info, with_key=True)],
    )
    return OK


def _release_link(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    code = _typed_code(arguments.code) if arguments.code else None
    if code is None:
        _require_license(client)
    said = client.request_seat_release_link(code)
    output.emit(
        {"status": "requested", "detail": said},
        [
            said,
            "Open the link from that email and choose the device to free; then activate "
            "here again.",
        ],
    )
    return OK


def _status(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    try:
        info = client.status()
    except LicenseNotActive as refused:
        # Offline, the server's last signed word still counts: show the license as
        # last seen, with its status, and say it is not valid.
        info = dataclasses.replace(
            client.details(), valid=False, status=refused.status, reason=refused.reason
        )
        output.emit(
            {**info.as_dict(), "why": str(refused)},
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
        _warn_about_an_override(client)
    try:
        path = client.export_backup(arguments.file, passphrase)
    except OSError as error:
        raise cannot("write", error) from error
    after_reinstall = passphrase is not None or client.machine.survives_reinstall
    output.emit(
        {
            "status": "saved",
            "file": str(path),
            "passphrase": passphrase is not None,
            "restores_after_reinstall": after_reinstall,
        },
        [f"License backup saved to {path}.", *_what_the_backup_keeps(client, passphrase)],
    )
    return OK


def _what_the_backup_keeps(client: LicenseClient, passphrase: str | None) -> list[str]:
    """What this backup will restore, and where: said as it is, since a backup that a
    reinstall makes unreadable must not be kept for one (docs/client.md, "The device")."""
    keep = "Keep it somewhere the reinstall will not erase (a USB stick, cloud storage)"
    if passphrase is not None:
        return [
            f"{keep}, and the passphrase apart from it.",
            "It restores with the passphrase after a reinstall, or on another computer "
            "(which takes one of the license's devices).",
        ]
    if client.machine.survives_reinstall:
        return [
            f"{keep}.",
            "It restores on this computer only, also after its system is reinstalled "
            "(the same device: no other seat is taken).",
        ]
    return [
        "It restores on this computer only, and only until its system is reinstalled: "
        "this computer's identity changes with a reinstall.",
        "To keep the license across a reinstall, save the backup with --passphrase.",
    ]


def _import(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    passphrase = (
        _secret("LICENSOR_BACKUP_PASSPHRASE", "Passphrase of the backup: ")
        if arguments.passphrase
        else None
    )
    info = client.import_backup(arguments.file, passphrase, replace=arguments.replace)
    output.emit({"status": "restored", **info.as_dict()}, ["Restored.", *describe(info)])
    return OK if info.valid else NOT_VALID


def _proof(client: LicenseClient, arguments: argparse.Namespace, output: Output) -> int:
    if arguments.file == "-":
        proof = client.license_proof()
        output.emit({"status": "proof", "proof": proof}, [proof])
        return OK
    path = client.export_proof(arguments.file)
    proof = path.read_text().strip()
    output.emit(
        {"status": "saved", "file": str(path), "proof": proof},
        [
            f"Saved a license proof to {path}.",
            "Attach it to a support request (topic: recover an activation code).",
        ],
    )
    return OK


HANDLERS: dict[str, Callable[[LicenseClient, argparse.Namespace, Output], int]] = {
    "activate": _activate,
    "release-link": _release_link,
    "status": _status,
    "details": _details,
    "recover": _recover,
    "shared": shared_command,
    "connect": _connect,
    "enroll": _enroll,
    "release": _release,
    "export": _export,
    "import": _import,
    "proof": _proof,
    "lease": lease_command,
    "reserve": reserve_command,
}


def _warn_about_an_override(client: LicenseClient) -> None:
    """A backup sealed to ``LICENSOR_FINGERPRINT`` is sealed to a value kept in clear."""
    if client.machine.source == "override":
        print(
            "licensor-client: warning: this backup is sealed with LICENSOR_FINGERPRINT, "
            "which is kept in clear: anyone with the file and that value can open it; use "
            "--passphrase",
            file=sys.stderr,
        )
