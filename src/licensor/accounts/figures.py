"""What My Account recovers, for the console's dashboard and ``licensor report figures``: codes
linked to an account (F4: from the app, typed on the Licenses page, or found with an order)
and codes the owner replaced themselves."""

from __future__ import annotations

from licensor.daily import DayRange, count_actions
from licensor.units import Service

# Channel -> the audit action that records a recovery through it.
RECOVERY_ACTIONS = {
    "account_link": "accounts.license_linked",
    "self_service_replace": "accounts.code_replaced",
}


class AccountFigures(Service):
    """The accounts domain's figures over a range of days."""

    def recoveries(self, days: DayRange) -> dict[str, int]:
        """Recoveries over the range by channel."""
        counts = count_actions(self.session, RECOVERY_ACTIONS.values(), days)
        return {channel: counts[action] for channel, action in RECOVERY_ACTIONS.items()}
