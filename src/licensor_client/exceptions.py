"""Every error the SDK raises, in one tree, so an app can catch as widely as it needs::

    LicensorClientError                 anything below
    ├── NetworkError                    the server could not be reached (offline, DNS, timeout)
    │   └── ServerUnavailable           no verdict came back: 5xx, a redirect, a captive
    │                                   portal's page, anything but JSON or problem+json
    ├── ServerError                     the server refused, with a problem+json ``code``
    │   ├── CodeMalformed               code_malformed: a mistyped code (its check value fails)
    │   ├── CodeUnknown                 code_unknown: a well-formed code nobody issued here
    │   ├── CodeBlocked                 code_blocked: refunded, leaked, …; contact support
    │   ├── CodeNotSold                 code_not_sold: the shop has not recorded the sale yet
    │   ├── DeviceLimitReached          device_limit_reached: free a seat first; ``devices``
    │   │                               names the license's devices, ``free_seat_url`` and
    │   │                               ``release_link_available`` the ways to free one
    │   ├── TransferLimitReached        transfer_limit_reached: the license moved to new
    │   │                               devices as often as its plan allows for now;
    │   │                               ``retry_at`` says when the next move is allowed
    │   ├── LeaseLimitReached           lease_limit_reached: every lease of a floating
    │   │                               license is held; ``retry_at`` says when the
    │   │                               soonest lapses
    │   ├── LeaseNotHeld                lease_not_held: the lease was checked in or freed
    │   │                               by the owner; check out again
    │   ├── LicenseNotFloating          license_not_floating: the license counts devices
    │   ├── LicenseExpired              license_expired: the term is over
    │   ├── LicenseUnknown              license_unknown: the server does not know this license
    │   ├── LicenseNotOnDevice          license_not_on_device: no seat here (released elsewhere)
    │   ├── InvalidCredentials          invalid_credentials: wrong email or password
    │   ├── EmailNotVerified            email_not_verified: a verification mail was sent
    │   ├── LicenseLinkedElsewhere      license_linked_elsewhere: another account holds it
    │   ├── AuthorizationPending        authorization_pending: the short code is not entered yet
    │   ├── DeviceCodeExpired           device_code_expired: start connecting again
    │   ├── EnrollmentTokenInvalid      enrollment_token_invalid: used or expired; download again
    │   └── RateLimited                 rate_limited: try again after ``retry_after`` seconds
    ├── VerificationError               a signed answer or license file must not be believed
    │   ├── SignatureInvalid            tampered with, forged, signed by an unpinned key, or
    │   │                               about another license
    │   ├── ReplayedAnswer              a signed answer to another request (nonce differs)
    │   ├── LicenseFileExpired          past its ``valid_until``: validate online for a fresh one
    │   ├── LicenseNotActive            the last signed verdict (answer or file) says the
    │   │                               license is not valid: released, blocked, expired…
    │   ├── WrongDevice                 the license file was issued to another device
    │   └── ClockTampered               the device clock is behind a time already seen
    ├── NotActivated                    no license on this device yet
    ├── InsecureServer                  a plain http:// server that is not this machine
    ├── PinnedKeysInvalid               the keys pinned in the state directory are damaged
    ├── EnrollmentFileInvalid           not an enrollment file from My Account
    └── BackupError                     a backup file cannot be read, saved or restored here
        ├── BackupLocked                made on another machine, or with another passphrase
        └── BackupConflict              it would replace another license still valid here

Each class has a stable snake_case ``code`` (``licensor-client --json`` prints it as
``error``). ``ServerError`` carries the answer's ``status``, ``code``, ``title`` and
``detail``; a code this SDK does not know yet still arrives as a plain ``ServerError``
with its code. ``ServerError.reason`` and ``LicenseNotActive.reason`` say why in the same
machine-readable words a validation answer uses (``device_limit_reached``, ``expired``,
``blocked``, ``released``, ``not_activated``, ...), so an app explains every refusal from
one field.
"""

from __future__ import annotations

from typing import Any

from licensor_client._seats import (
    SeatHolder,
    optional_int,
    optional_time,
    optional_url,
    seat_holders,
)


class LicensorClientError(Exception):
    """The base of every error the SDK raises."""

    code = "client_error"


class NetworkError(LicensorClientError):
    """The Licensor server could not be reached."""

    code = "network_error"


class ServerUnavailable(NetworkError):
    """No verdict came back (5xx, a redirect, a page that is not the API's): as if
    unreachable, so ``status()`` falls back to the license file."""

    code = "server_unavailable"


class ServerError(LicensorClientError):
    """The server refused the request; ``code`` is stable, ``detail`` is for people."""

    code = "server_error"

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        problem: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.problem = problem or {}
        #: Seconds the server asked us to wait (``Retry-After``), when it said.
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """Why, for a machine: the problem's ``code`` (``device_limit_reached``, ...)."""
        return self.code


class CodeMalformed(ServerError):
    code = "code_malformed"


class CodeUnknown(ServerError):
    code = "code_unknown"


class CodeBlocked(ServerError):
    code = "code_blocked"


class CodeNotSold(ServerError):
    """A reseller's code (or a card sold at the till) whose sale the shop has not
    recorded yet: it activates once the shop does."""

    code = "code_not_sold"


class DeviceLimitReached(ServerError):
    """The license is in use on all the devices it allows. The server names them
    (``devices``: ``SeatHolder``, the most recently seen first) and the ways to free a
    seat: ``free_seat_url``, My Account's Devices page for a signed-in owner; and, when
    ``release_link_available``, a one-time link mailed to the license's owner
    (``LicenseClient.request_seat_release_link``). An older server names none of them."""

    code = "device_limit_reached"

    def __init__(self, *arguments: Any, **options: Any) -> None:
        super().__init__(*arguments, **options)
        self.devices: tuple[SeatHolder, ...] = seat_holders(self.problem)
        self.devices_used = optional_int(self.problem.get("devices_used"))
        self.devices_max = optional_int(self.problem.get("devices_max"))
        self.free_seat_url = optional_url(self.problem.get("free_seat_url"))
        self.release_link_available = self.problem.get("release_link_available") is True


class TransferLimitReached(ServerError):
    """The license's seats moved to new devices as often as its plan allows in a period.
    ``retry_at`` (UTC) says when the next move is allowed; the device that held the seat
    may still come back to it, and support may grant one more."""

    code = "transfer_limit_reached"

    def __init__(self, *arguments: Any, **options: Any) -> None:
        super().__init__(*arguments, **options)
        self.retry_at = optional_time(self.problem.get("retry_at"))
        if self.retry_after is None:
            self.retry_after = optional_int(self.problem.get("retry_after"))
        self.transfer_limit = optional_int(self.problem.get("transfer_limit"))
        self.transfer_period_days = optional_int(self.problem.get("transfer_period_days"))


class LeaseLimitReached(ServerError):
    """Every lease of a floating license is held by other devices. ``retry_at`` (UTC)
    says when the soonest lapses unless its holder renews it; ``leases_used`` and
    ``leases_max`` the count."""

    code = "lease_limit_reached"

    def __init__(self, *arguments: Any, **options: Any) -> None:
        super().__init__(*arguments, **options)
        self.retry_at = optional_time(self.problem.get("retry_at"))
        if self.retry_after is None:
            self.retry_after = optional_int(self.problem.get("retry_after"))
        self.leases_used = optional_int(self.problem.get("leases_used"))
        self.leases_max = optional_int(self.problem.get("leases_max"))


class LeaseNotHeld(ServerError):
    """The heartbeat's lease was checked in, or freed by the license's owner or the
    vendor: it is not renewed; ``checkout()`` takes a new one if one is free."""

    code = "lease_not_held"


class LicenseNotFloating(ServerError):
    """The license counts devices, not leases: activation is all it needs."""

    code = "license_not_floating"


class LicenseExpired(ServerError):
    code = "license_expired"

    @property
    def reason(self) -> str:
        return "expired"


class LicenseUnknown(ServerError):
    code = "license_unknown"


class LicenseNotOnDevice(ServerError):
    code = "license_not_on_device"


class InvalidCredentials(ServerError):
    code = "invalid_credentials"


class EmailNotVerified(ServerError):
    code = "email_not_verified"


class LicenseLinkedElsewhere(ServerError):
    code = "license_linked_elsewhere"


class AuthorizationPending(ServerError):
    code = "authorization_pending"


class DeviceCodeExpired(ServerError):
    code = "device_code_expired"


class EnrollmentTokenInvalid(ServerError):
    code = "enrollment_token_invalid"


class RateLimited(ServerError):
    code = "rate_limited"


SERVER_ERRORS: dict[str, type[ServerError]] = {
    error.code: error
    for error in (
        CodeMalformed,
        CodeUnknown,
        CodeBlocked,
        CodeNotSold,
        DeviceLimitReached,
        TransferLimitReached,
        LeaseLimitReached,
        LeaseNotHeld,
        LicenseNotFloating,
        LicenseExpired,
        LicenseUnknown,
        LicenseNotOnDevice,
        InvalidCredentials,
        EmailNotVerified,
        LicenseLinkedElsewhere,
        AuthorizationPending,
        DeviceCodeExpired,
        EnrollmentTokenInvalid,
        RateLimited,
    )
}


class VerificationError(LicensorClientError):
    """A signed answer or license file failed a check: act as if it never arrived."""

    code = "verification_failed"


class SignatureInvalid(VerificationError):
    """The signature does not verify with a pinned key (tampered, forged or unpinned), or
    a genuine answer speaks of another license than the one asked about."""

    code = "signature_invalid"


class ReplayedAnswer(VerificationError):
    """A correctly signed answer to another request: its nonce is not the one we sent."""

    code = "replayed_answer"


class LicenseFileExpired(VerificationError):
    """The license file is past ``valid_until``; a fresh one comes with online validation."""

    code = "license_file_expired"


class LicenseNotActive(VerificationError):
    """The server's last signed word says the license is not valid here (``status``:
    released, blocked, expired, not_activated, unknown), or the license file says so
    itself. ``details()`` still shows the license."""

    code = "license_not_active"

    def __init__(self, message: str, status: str = "unknown") -> None:
        super().__init__(message)
        self.status = status

    @property
    def reason(self) -> str:
        """Why, for a machine: the status the server (or the file) gave."""
        return self.status


class WrongDevice(VerificationError):
    """The license file names another device's fingerprint."""

    code = "wrong_device"


class ClockTampered(VerificationError):
    """The device clock is well behind the time the license file was issued, or behind a
    time this device already showed."""

    code = "clock_tampered"


class NotActivated(LicensorClientError):
    """There is no license on this device."""

    code = "not_activated"


class InsecureServer(LicensorClientError, ValueError):
    """A plain ``http://`` server that is not this machine: anyone on the way could
    answer in its place. Use ``https://``, or opt in with ``allow_insecure_http=True``
    (and pin the vendor's keys: they are never fetched over plain http)."""

    code = "insecure_server"


class PinnedKeysInvalid(LicensorClientError):
    """The keys pinned on first use (``signing-keys`` in the state directory) are damaged."""

    code = "pinned_keys_invalid"


class EnrollmentFileInvalid(LicensorClientError):
    """The file is not the enrollment file My Account's download carries."""

    code = "enrollment_file_invalid"


class BackupError(LicensorClientError):
    """A license backup cannot be read, saved or restored: not a backup, damaged, from a
    newer version, or it would replace another license still valid here."""

    code = "backup_error"


class BackupLocked(BackupError):
    """The backup's code is sealed to another machine, or to another passphrase.

    ``reason`` says which, for the app's message: ``passphrase_needed`` (made elsewhere,
    with a passphrase: ask for it), ``passphrase_wrong``, or ``no_passphrase`` (made
    elsewhere without one: it cannot move; the code is in My Account)."""

    code = "backup_locked"

    def __init__(self, message: str, reason: str = "passphrase_wrong") -> None:
        super().__init__(message)
        self.reason = reason


class BackupConflict(BackupError):
    """The backup holds another license than the one still valid on this device;
    restoring it would replace that one (``import_backup(..., replace=True)`` does)."""

    code = "backup_conflict"
