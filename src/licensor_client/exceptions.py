"""Every error the SDK raises, in one tree, so an app can catch as widely as it needs::

    LicensorClientError                 anything below
    ├── NetworkError                    the server could not be reached (offline, DNS, timeout)
    │   └── ServerUnavailable           it answered 5xx without a verdict (overloaded, proxy)
    ├── ServerError                     the server refused, with a problem+json ``code``
    │   ├── CodeMalformed               code_malformed: a mistyped code (its check value fails)
    │   ├── CodeUnknown                 code_unknown: a well-formed code nobody issued here
    │   ├── CodeBlocked                 code_blocked: refunded, leaked, …; contact support
    │   ├── DeviceLimitReached          device_limit_reached: release another device first
    │   ├── LicenseExpired              license_expired: the term is over
    │   ├── InvalidCredentials          invalid_credentials: wrong email or password
    │   ├── EmailNotVerified            email_not_verified: a verification mail was sent
    │   ├── LicenseLinkedElsewhere      license_linked_elsewhere: another account holds it
    │   ├── AuthorizationPending        authorization_pending: the short code is not entered yet
    │   ├── DeviceCodeExpired           device_code_expired: start connecting again
    │   ├── EnrollmentTokenInvalid      enrollment_token_invalid: used or expired; download again
    │   └── RateLimited                 rate_limited: try again after ``retry_after`` seconds
    ├── VerificationError               a signed answer or license file must not be believed
    │   ├── SignatureInvalid            tampered with, forged, or signed by an unpinned key
    │   ├── ReplayedAnswer              a signed answer to another request (nonce differs)
    │   ├── LicenseFileExpired          past its ``valid_until``: validate online for a fresh one
    │   ├── WrongDevice                 the license file was issued to another device
    │   └── ClockTampered               the device clock is behind the file's issue time
    ├── NotActivated                    no license on this device yet
    ├── EnrollmentFileInvalid           not an enrollment file from My Account
    └── BackupError                     a backup file cannot be read or restored here
        └── BackupLocked                made on another machine, or with another passphrase

``ServerError`` carries the answer's ``status``, ``code``, ``title`` and ``detail``; a
code this SDK does not know yet still arrives as a plain ``ServerError`` with its code.
"""

from __future__ import annotations

from typing import Any


class LicensorClientError(Exception):
    """The base of every error the SDK raises."""


class NetworkError(LicensorClientError):
    """The Licensor server could not be reached."""


class ServerUnavailable(NetworkError):
    """The server (or a proxy before it) answered 5xx: no verdict, as if unreachable."""


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


class CodeMalformed(ServerError):
    code = "code_malformed"


class CodeUnknown(ServerError):
    code = "code_unknown"


class CodeBlocked(ServerError):
    code = "code_blocked"


class DeviceLimitReached(ServerError):
    code = "device_limit_reached"


class LicenseExpired(ServerError):
    code = "license_expired"


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
        DeviceLimitReached,
        LicenseExpired,
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


class SignatureInvalid(VerificationError):
    """The signature does not verify with a pinned key (tampered, forged or unpinned)."""


class ReplayedAnswer(VerificationError):
    """A correctly signed answer to another request: its nonce is not the one we sent."""


class LicenseFileExpired(VerificationError):
    """The license file is past ``valid_until``; a fresh one comes with online validation."""


class WrongDevice(VerificationError):
    """The license file names another device's fingerprint."""


class ClockTampered(VerificationError):
    """The device clock is well behind the time the license file was issued."""


class NotActivated(LicensorClientError):
    """There is no license on this device."""


class EnrollmentFileInvalid(LicensorClientError):
    """The file is not the enrollment file My Account's download carries."""


class BackupError(LicensorClientError):
    """A license backup cannot be read: not a backup, damaged, or from a newer version."""


class BackupLocked(BackupError):
    """The backup's code is sealed to another machine, or to another passphrase.

    ``reason`` says which, for the app's message: ``passphrase_needed`` (made elsewhere,
    with a passphrase: ask for it), ``passphrase_wrong``, or ``no_passphrase`` (made
    elsewhere without one: it cannot move; the code is in My Account)."""

    def __init__(self, message: str, reason: str = "passphrase_wrong") -> None:
        super().__init__(message)
        self.reason = reason
