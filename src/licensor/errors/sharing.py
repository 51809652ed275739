"""What family sharing refuses (licensor/accounts/sharing.py): an invitation link that
cannot be accepted, and a device asking for a seat of a license not shared with its
account."""

from __future__ import annotations

from licensor.errors.base import LicensorError


class ShareInvitationInvalid(LicensorError):
    """One refusal for every reason an invitation cannot be accepted by this account
    (used, expired, withdrawn, never given, or sent to an address the account has not
    verified): the page says none of them apart, so it tells nobody who was invited."""

    status = 410
    code = "share_invitation_invalid"
    title = (
        "This invitation cannot be accepted with this account. It may have been used, "
        "withdrawn or have expired, or it was sent to an email address this account has "
        "not confirmed."
    )


class LicenseNotShared(LicensorError):
    """No license with this public ID is shared with the account now (never shared,
    revoked or left: one answer)."""

    status = 404
    code = "license_not_shared"
    title = "No license with this ID is shared with this account"
