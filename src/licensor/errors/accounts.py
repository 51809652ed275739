"""What accounts refuse: sign-in, a license joined to an account, a device connected by
its short code (licensor/accounts)."""

from __future__ import annotations

from licensor.errors.base import LicensorError


class InvalidCredentials(LicensorError):
    status = 401
    code = "invalid_credentials"
    title = "The email or password is not correct"


class EmailNotVerified(LicensorError):
    status = 403
    code = "email_not_verified"
    title = "Confirm your email address first: we have sent the link again"


class LicenseNotOnDevice(LicensorError):
    status = 403
    code = "license_not_on_device"
    title = "This license is not active on this device"


class LicenseLinkedElsewhere(LicensorError):
    status = 409
    code = "license_linked_elsewhere"
    title = (
        "This license already belongs to another account. It was not moved. "
        "If it is yours, contact support with a screenshot of the License details window."
    )


# Connecting a device by a short code (F10, accounts/connect.py): what the app's poll hears.
class AuthorizationPending(LicensorError):
    status = 400
    code = "authorization_pending"
    title = "Waiting for the code to be entered in My Account"


class DeviceCodeExpired(LicensorError):
    status = 410
    code = "device_code_expired"
    title = "This connection code has expired; start again"


class UserCodeUnknown(LicensorError):
    status = 404
    code = "user_code_unknown"
    title = "This code is not valid, or has expired"
