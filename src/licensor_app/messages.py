"""What the app tells the customer when something is refused: one clear sentence per
error of the SDK, saying what happened and what to do next."""

from __future__ import annotations

from licensor_app.i18n import Translator, format_date
from licensor_client.exceptions import (
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
    EnrollmentTokenInvalid,
    InvalidCredentials,
    LeaseLimitReached,
    LicenseExpired,
    LicenseLinkedElsewhere,
    LicenseNotActive,
    LicensorClientError,
    NetworkError,
    NotActivated,
    RateLimited,
    ServerError,
    TransferLimitReached,
    VerificationError,
    WrongDevice,
)


def describe_error(error: BaseException, _: Translator, *, passphrase_given: bool = False) -> str:
    """The message for ``error`` in the translator's language. ``passphrase_given`` tells
    a wrong passphrase from a backup that needs one."""
    if isinstance(error, NetworkError):
        return _("Cannot reach the license server. Check your internet connection and try again.")
    if isinstance(error, CodeMalformed):
        return _(
            "This activation code is mistyped. Check each character against your purchase "
            "email or card, and try again."
        )
    if isinstance(error, CodeUnknown):
        return _(
            "This activation code is not known to us. Check that it is the code from your "
            "purchase, or contact the store where you bought it."
        )
    if isinstance(error, CodeBlocked):
        return _("This activation code is blocked and cannot be used. Contact customer support.")
    if isinstance(error, CodeNotSold):
        return _(
            "This activation code has not been registered as sold yet, so it cannot be "
            "activated. Ask the shop where you bought it to register the sale, then try again."
        )
    if isinstance(error, DeviceLimitReached):
        return _(
            "This license is already in use on all the devices it allows. Remove it from "
            "another device (in the app on that device, or in My Account → Devices), then "
            "try again."
        )
    if isinstance(error, TransferLimitReached) and error.retry_at is not None:
        return _(
            "This license has moved to new devices as often as its plan allows for now. It can "
            "move to this device from {date}; the device that had it can take it back at once, "
            "and customer support can allow one more move.",
            date=format_date(error.retry_at, _.language),
        )
    if isinstance(error, LeaseLimitReached):
        # A floating license: the seats are apps running now, so a time, not a day.
        when = error.retry_at.astimezone().strftime("%H:%M") if error.retry_at else "—"
        return _(
            "Every seat of this license is in use on other computers right now. Try again "
            "after {time}, or when someone closes the app.",
            time=when,
        )
    if isinstance(error, LicenseExpired):
        return _("This license has expired. Renew it, or buy a new one in the store.")
    if isinstance(error, InvalidCredentials):
        return _("Wrong email or password.")
    if isinstance(error, EmailNotVerified):
        return _(
            "Your email address is not confirmed yet. We sent you a message with a "
            "confirmation link: open it, then sign in again."
        )
    if isinstance(error, LicenseLinkedElsewhere):
        return _(
            "This license is linked to another account. If it is yours, contact customer support."
        )
    if isinstance(error, RateLimited):
        if error.retry_after:
            return _(
                "Too many attempts. Try again in {seconds} seconds.", seconds=error.retry_after
            )
        return _("Too many attempts. Try again in a few minutes.")
    if isinstance(error, DeviceCodeExpired):
        return _("The code has expired. Start again to get a new one.")
    if isinstance(error, EnrollmentTokenInvalid):
        return _(
            "This download was already used to activate, or it has expired. Download the app "
            "again from My Account → Subscriptions."
        )
    if isinstance(error, ServerError):
        return _("The license server refused: {reason}", reason=error.title)
    if isinstance(error, LicenseNotActive):
        # Offline, the license server's last signed answer (or the license file) said no.
        if error.status == "expired":
            return _("This license has expired. Renew it, or buy a new one in the store.")
        if error.status == "blocked":
            return _("This license is blocked. Contact customer support.")
        if error.status in ("released", "not_activated"):
            return _(
                "This license was removed from this device. Enter your activation code to "
                "use it here again."
            )
        return _(
            "The license server no longer accepts this license on this device. Connect to "
            "the internet to check it again, or contact customer support."
        )
    if isinstance(error, WrongDevice):
        return _(
            "The license on this device was issued to another device. Enter your "
            "activation code again."
        )
    if isinstance(error, ClockTampered):
        return _("This device's clock is wrong. Set the right date and time, then try again.")
    if isinstance(error, VerificationError):
        return _(
            "The license could not be verified: it may have been changed. Enter your "
            "activation code again, or contact customer support."
        )
    if isinstance(error, NotActivated):
        return _("There is no license on this device.")
    if isinstance(error, BackupLocked):
        if error.reason == "no_passphrase":
            return _(
                "This backup was saved on another computer without a passphrase, so it "
                "opens only there. Enter your activation code instead (it is in the Licenses "
                "section of My Account)."
            )
        if error.reason == "passphrase_needed" and not passphrase_given:
            return _(
                "This backup was saved on another computer. Enter the passphrase chosen when "
                "it was saved."
            )
        return _("This passphrase does not open the backup. Check it and try again.")
    if isinstance(error, BackupConflict):
        return _(
            "This device already has another license that is still valid. Remove it from "
            "this device first, then restore the backup."
        )
    if isinstance(error, BackupError):
        return _("This file is not a license backup, or it is damaged.")
    if isinstance(error, OSError):
        return _("The file cannot be used: {reason}", reason=error.strerror or str(error))
    if isinstance(error, LicensorClientError):
        return _("Something went wrong: {reason}", reason=str(error))
    return _("Something went wrong: {reason}", reason=str(error) or type(error).__name__)
