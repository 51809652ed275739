"""The sentences for refusals the SDK words on its own: a license the server's last
signed answer refused (read offline), and a backup that would replace another license."""

from __future__ import annotations

import pytest

from licensor_app.i18n import Translator
from licensor_app.messages import describe_error
from licensor_client import BackupConflict, LicenseNotActive


@pytest.mark.parametrize(
    ("status", "english"),
    [
        ("blocked", "This license is blocked. Contact customer support."),
        ("expired", "This license has expired. Renew it, or buy a new one in the store."),
        ("released", "This license was removed from this device."),
        ("not_activated", "This license was removed from this device."),
        ("unknown", "The license server no longer accepts this license on this device."),
    ],
)
def test_a_license_refused_offline_is_not_called_tampered(status: str, english: str) -> None:
    error = LicenseNotActive(f"the license server said this license is {status}", status)
    said = describe_error(error, Translator("en"))
    assert said.startswith(english)
    assert "changed" not in said
    assert describe_error(error, Translator("it")) != said


def test_a_backup_over_another_valid_license_says_what_to_do() -> None:
    said = describe_error(BackupConflict("another license"), Translator("en"))
    assert "another license that is still valid" in said
    assert "not a license backup" not in said
