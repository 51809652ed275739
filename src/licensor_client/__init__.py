"""The Licensor client SDK, shipped inside vendors' apps, and the ``licensor-client`` command.

It talks to a Licensor server over HTTP only and imports nothing from ``licensor``, so an
app carries this package and its few dependencies (httpx, cryptography), never the server::

    from licensor_client import LicenseClient

    with LicenseClient("https://licensing.example.com", "k1:BASE64URL-PUBLIC-KEY") as client:
        info = client.activate("6JPET-26GV0-A08J5-BT3ZX")
        print(info.plan_name, info.expires_at, info.grouped_license_key)
        client.status()  # online; from the signed license file when offline

Every answer and license file is verified against the pinned public keys; errors are in
``licensor_client.exceptions``.
"""

from __future__ import annotations

from licensor_client._client import LicenseClient
from licensor_client._enrollment import Enrollment, read_enrollment
from licensor_client._leases import Lease
from licensor_client._machine import FINGERPRINT_ENV, Machine, this_machine
from licensor_client._results import (
    Connected,
    DeviceConnect,
    LicenseInfo,
    LinkResult,
    ReleaseResult,
    format_license_key,
)
from licensor_client._seats import SeatHolder
from licensor_client._sharing import SharedLicense
from licensor_client._signing import LicenseFile, PublicKeys, check_license_file
from licensor_client._state import default_state_dir
from licensor_client._version import __version__
from licensor_client.exceptions import (
    AuthorizationPending,
    BackupConflict,
    BackupError,
    BackupLocked,
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
    LicenseFileExpired,
    LicenseLinkedElsewhere,
    LicenseNotActive,
    LicenseNotFloating,
    LicenseNotOnDevice,
    LicenseUnknown,
    LicensorClientError,
    NetworkError,
    NotActivated,
    PinnedKeysInvalid,
    RateLimited,
    ReplayedAnswer,
    ServerError,
    ServerUnavailable,
    SignatureInvalid,
    TransferLimitReached,
    VerificationError,
    WrongDevice,
)

__all__ = [
    "FINGERPRINT_ENV",
    "AuthorizationPending",
    "BackupConflict",
    "BackupError",
    "BackupLocked",
    "ClockTampered",
    "CodeBlocked",
    "CodeMalformed",
    "CodeNotSold",
    "CodeUnknown",
    "Connected",
    "DeviceCodeExpired",
    "DeviceConnect",
    "DeviceLimitReached",
    "EmailNotVerified",
    "Enrollment",
    "EnrollmentFileInvalid",
    "EnrollmentTokenInvalid",
    "InsecureServer",
    "InvalidCredentials",
    "Lease",
    "LeaseLimitReached",
    "LeaseNotHeld",
    "LicenseClient",
    "LicenseExpired",
    "LicenseFile",
    "LicenseFileExpired",
    "LicenseInfo",
    "LicenseLinkedElsewhere",
    "LicenseNotActive",
    "LicenseNotFloating",
    "LicenseNotOnDevice",
    "LicenseUnknown",
    "LicensorClientError",
    "LinkResult",
    "Machine",
    "NetworkError",
    "NotActivated",
    "PinnedKeysInvalid",
    "PublicKeys",
    "RateLimited",
    "ReleaseResult",
    "ReplayedAnswer",
    "SeatHolder",
    "ServerError",
    "ServerUnavailable",
    "SharedLicense",
    "SignatureInvalid",
    "TransferLimitReached",
    "VerificationError",
    "WrongDevice",
    "__version__",
    "check_license_file",
    "default_state_dir",
    "format_license_key",
    "read_enrollment",
    "this_machine",
]
