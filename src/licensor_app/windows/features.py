"""The product's features in the main window, each usable only when the plan includes it.

The app knows its features (``FEATURES``); the license says which the plan includes
(``LicenseInfo.has``, from the signed answer or the license file). What the plan lacks is
shown greyed out (disabled), with a line naming it, so the customer sees what an upgrade
would bring rather than a feature that silently does nothing.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from licensor_app.i18n import N_, Translator
from licensor_client import LicenseInfo

#: (entitlement name, the feature's name as shown): what this product can do.
FEATURES = (
    ("antivirus", N_("Antivirus")),
    ("vpn", N_("VPN")),
    ("password-manager", N_("Password manager")),
)


def feature_buttons(_: Translator) -> ComposeResult:
    """The features, all disabled until a license says which the plan includes."""
    with Horizontal(id="features", classes="buttons"):
        for name, title in FEATURES:
            yield Button(_(title), id=f"feature-{name}", compact=True, disabled=True)
    yield Static("", id="features-note", markup=False)


def lacking_note(info: LicenseInfo | None, _: Translator) -> str:
    """The line under the features: what the plan lacks, or why none can be used."""
    if info is None or not info.valid:
        return _("The features open with an active license.")
    lacking = [_(title) for name, title in FEATURES if not info.has(name)]
    if not lacking:
        return ""
    return _("Your plan does not include: {features}", features=", ".join(lacking))


def title_of(button_id: str) -> str:
    """The feature's name (untranslated) of a feature button's id."""
    return dict(FEATURES)[button_id.removeprefix("feature-")]
