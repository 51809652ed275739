"""How ``licensor-client`` fails: the exit status per kind of failure (``EXIT_CODES``, also
listed in ``--help``), the message, and a hint at what to do."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

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
    LeaseLimitReached,
    LeaseNotHeld,
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
    TransferLimitReached,
    VerificationError,
)

OK = 0
FAILED = 1
USAGE = 2
NOT_VALID = 4  # status: the server (or the license file) says the license is not valid

#: Exit status per failure, most specific first (``isinstance`` order matters), and what
#: to say when the error itself says nothing.
EXIT_CODES: list[tuple[type[LicensorClientError], int, str]] = [
    (NetworkError, 3, "the license server cannot be reached"),
    (CodeMalformed, 5, "the activation code is mistyped"),
    (CodeUnknown, 6, "the activation code is unknown"),
    (CodeBlocked, 7, "the activation code is blocked"),
    (DeviceLimitReached, 8, "the license is on all the devices it allows"),
    (TransferLimitReached, 8, "the license has moved to new devices as often as it may for now"),
    (LeaseLimitReached, 8, "every seat of the floating license is in use"),
    (LeaseNotHeld, 14, "this device no longer holds a seat of the floating license"),
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


class CommandFailed(Exception):
    """A failure the command words itself (not an SDK error)."""

    def __init__(self, code: str, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def cannot(verb: str, error: OSError) -> CommandFailed:
    """A file that could not be read or written, said with its name."""
    where = f" {error.filename}" if error.filename else ""
    return CommandFailed("file_error", f"cannot {verb}{where}: {error.strerror or error}")


def seats_full_hint(error: DeviceLimitReached) -> str:
    """The license's devices and the ways to free a seat of it, for people."""
    lines = []
    if error.devices:
        lines.append("The license is in use on:")
        for holder in error.devices:
            seen = (
                holder.last_seen_at.strftime("%Y-%m-%d %H:%M UTC") if holder.last_seen_at else "—"
            )
            platform = f" ({holder.platform})" if holder.platform else ""
            lines.append(f"  - {holder.name or 'unnamed device'}{platform}, last seen {seen}")
    lines.append("To use it here, free a seat on a device you no longer use:")
    lines.append("  - in the app on that device (licensor-client release there), or")
    where = f": {error.free_seat_url}" if error.free_seat_url else " (Devices)"
    lines.append(f"  - signed in to My Account{where}")
    if not error.release_link_available:
        # A code in no account and no order (a printed card, say): it joins an account
        # by being typed there, and its devices are then listed.
        lines.append("    (not in your account yet? add the activation code under Licenses first)")
    if error.release_link_available:
        lines.append(
            "  - or have a one-time link mailed to the license's owner, no sign-in needed: "
            "licensor-client release-link CODE"
        )
    return "\n  ".join(lines)


def failure_details(error: LicensorClientError) -> dict[str, Any]:
    """What ``--json`` adds to an error object: a full license's devices and next steps,
    or when the next transfer is allowed."""
    if isinstance(error, TransferLimitReached):
        return {"retry_at": _iso(error.retry_at), "retry_after": error.retry_after}
    if isinstance(error, LeaseLimitReached):
        return {
            "retry_at": _iso(error.retry_at),
            "retry_after": error.retry_after,
            "leases_used": error.leases_used,
            "leases_max": error.leases_max,
        }
    if not isinstance(error, DeviceLimitReached):
        return {}
    return {
        "devices_used": error.devices_used,
        "devices_max": error.devices_max,
        "devices": [
            {
                "seat": holder.seat,
                "name": holder.name,
                "platform": holder.platform,
                "activated_at": _iso(holder.activated_at),
                "last_seen_at": _iso(holder.last_seen_at),
            }
            for holder in error.devices
        ],
        "free_seat_url": error.free_seat_url,
        "release_link_available": error.release_link_available,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def failure(error: LicensorClientError, command: str | None = None) -> tuple[int, str, str | None]:
    """Exit status, message and hint for an error: the error's own sentence, or the
    summary when it has none."""
    hint = next((text for kind, text in HINTS.items() if isinstance(error, kind)), None)
    if isinstance(error, DeviceLimitReached):
        hint = seats_full_hint(error)
    if isinstance(error, RateLimited) and error.retry_after:
        hint = f"try again in {error.retry_after} seconds"
    if isinstance(error, LeaseLimitReached):
        when = error.retry_at.strftime("%Y-%m-%d %H:%M UTC") if error.retry_at else "later"
        hint = f"try again after {when}, when the soonest seat lapses unless renewed"
    if isinstance(error, LeaseNotHeld):
        hint = "check out again: licensor-client lease checkout"
    if isinstance(error, TransferLimitReached):
        when = error.retry_at.strftime("%Y-%m-%d %H:%M UTC") if error.retry_at else "later"
        hint = (
            f"the next move to a new device is allowed from {when}; the device that held "
            "the seat can take it back now, and customer support can allow one more move"
        )
    for kind, status, summary in EXIT_CODES:
        if isinstance(error, kind):
            if kind is BackupError and command == "export":
                summary = "the backup cannot be saved"
            return status, str(error) or summary, hint
    if isinstance(error, ServerError):
        return FAILED, f"the server refused: {error} ({error.code})", hint
    return FAILED, str(error) or type(error).__name__, hint


def report(
    as_json: bool,
    code: str,
    message: str,
    status: int,
    hint: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """The error on stderr (and, with ``--json``, as an object on stdout, with any
    ``details``)."""
    if as_json:
        print(
            json.dumps(
                {"error": code, "message": message, "exit_status": status, **(details or {})}
            )
        )
    print(f"licensor-client: {message}", file=sys.stderr)
    if hint:
        print(f"  {hint}", file=sys.stderr)
    return status
