"""How a license reads in a line or a table, in the app's language."""

from __future__ import annotations

from licensor_app.i18n import N_, Translator, format_date
from licensor_client import (
    LicenseClient,
    LicenseInfo,
    LicenseNotActive,
    LicensorClientError,
    NetworkError,
)

#: The server's status words, as the customer reads them.
STATUS_WORDS = {
    "active": N_("Active"),
    "expired": N_("Expired"),
    "blocked": N_("Blocked"),
    "released": N_("Removed from this device"),
    "not_activated": N_("Not activated on this device"),
    "unknown": N_("Unknown to the license server"),
    "lease_expired": N_("No seat held now"),
}

#: Why a license is not valid, in words, by the reason the SDK gives (``LicenseInfo.reason``).
REASON_WORDS = {
    "device_limit_reached": N_(
        "This license is in use on all the devices it allows: remove it from a device you no "
        "longer use, then activate it here."
    ),
    "expired": N_("The license's term is over: renew it, or buy a new one in the store."),
    "blocked": N_(
        "The license was blocked (for example after a refund): contact customer support."
    ),
    "released": N_(
        "The license was removed from this device (here, on another device or in My Account): "
        "enter your activation code to use it here again."
    ),
    "not_activated": N_(
        "The license was never activated on this device: enter your activation code."
    ),
    "unknown": N_("The license server does not know this license: contact customer support."),
    "lease_expired": N_(
        "This app holds no seat of the floating license now: every seat is in use, or its "
        "seat lapsed or was freed. Open the app again when a seat is free."
    ),
}

CHECKED = {
    "online": N_("Checked with the license server just now."),
    "offline": N_("The license server cannot be reached: checked from the license file."),
    "stored": N_("The license server cannot be reached: shown as last checked."),
}


def last_known(client: LicenseClient, error: Exception) -> LicenseInfo | None:
    """What to show when ``status()`` failed: with no network (and a license file too old
    to trust offline), or offline after the server said the license is not valid, the
    license as last checked (its status says why); after any other failure, none."""
    if not isinstance(error, NetworkError | LicenseNotActive):
        return None
    try:
        return client.details()
    except LicensorClientError:
        return None


def why_not_valid(info: LicenseInfo, _: Translator) -> str:
    """Why the license is not valid, in a sentence with what to do ("" when it is valid,
    or for a reason this app does not know yet)."""
    if info.valid or not info.reason or info.reason not in REASON_WORDS:
        return ""
    return _(REASON_WORDS[info.reason])


def status_word(info: LicenseInfo, _: Translator) -> str:
    return _(STATUS_WORDS.get(info.status, info.status))


def expiry(info: LicenseInfo, _: Translator) -> str:
    if info.expires_at is None:
        return _("No expiry date")
    return format_date(info.expires_at, _.language)


def devices(info: LicenseInfo, _: Translator) -> str:
    if info.devices_used is None:
        return _("up to {allowed}", allowed=info.devices_max)
    return _("{used} of {allowed}", used=info.devices_used, allowed=info.devices_max)


def reserve(info: LicenseInfo, _: Translator) -> str:
    """The reserve code's line: when it starts (the license's end already counts it)."""
    if info.reserve_starts_at is None:
        return ""
    return _("starts on {date}", date=format_date(info.reserve_starts_at, _.language))


def plan_name(info: LicenseInfo) -> str:
    return info.plan_name or info.plan


def one_line(info: LicenseInfo | None, _: Translator) -> str:
    """The main window's summary of the license."""
    if info is None:
        return _("There is no license on this device.")
    if info.valid and info.expires_at is not None:
        return _(
            "{plan}: active until {date}",
            plan=plan_name(info),
            date=format_date(info.expires_at, _.language),
        )
    if info.valid:
        return _("{plan}: active", plan=plan_name(info))
    return _("{plan}: {status}", plan=plan_name(info), status=status_word(info, _))
