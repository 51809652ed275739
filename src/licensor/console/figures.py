"""The dashboard's figures over a range of days, composed from each domain's own counts:
the console's page and ``licensor report figures`` both show this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from licensor.accounts.figures import AccountFigures
from licensor.daily import DayRange
from licensor.licensing.figures import LicensingFigures
from licensor.store.figures import StoreFigures
from licensor.support.figures import QueueNow, SupportFigures
from licensor.units import UnitOfWork

# Recovery channels in the order the dashboard lists them (docs/console.md).
RECOVERY_CHANNELS = (
    "account_link",
    "order_lookup",
    "partner_pointer",
    "support_desk",
    "self_service_replace",
)


@dataclass(frozen=True)
class Figures:
    """Counts a day over ``days`` (one per day, in order), recoveries over the range by
    channel, and the support queue as it is now."""

    days: DayRange
    activations: list[int]
    validations: list[int]
    new_licenses: list[int]
    devices: list[int]
    revenue: dict[str, list[int]]  # cents a day, by currency
    recoveries: dict[str, int]
    new_requests: list[int]
    queue: QueueNow

    def as_json(self) -> dict[str, Any]:
        """The figures as ``licensor report figures --json`` prints them."""
        queue = self.queue

        def seconds(age: Any) -> int | None:
            return None if age is None else int(age.total_seconds())

        return {
            "from": self.days.first.isoformat(),
            "to": self.days.last.isoformat(),
            "days": [day.isoformat() for day in self.days.days],
            "activations": self.activations,
            "validations": self.validations,
            "new_licenses": self.new_licenses,
            "devices_with_a_seat": self.devices,
            "revenue_cents": self.revenue,
            "recoveries": self.recoveries,
            "new_requests": self.new_requests,
            "support_queue": {
                "open": queue.size,
                "oldest_age_seconds": seconds(queue.oldest_age),
                "median_age_seconds": seconds(queue.median_age),
            },
        }


def figures(unit: UnitOfWork, days: DayRange) -> Figures:
    """Every figure of the dashboard over ``days``: a query or two a series."""
    licensing = unit.service(LicensingFigures)
    support = unit.service(SupportFigures)
    recoveries = {
        **unit.service(AccountFigures).recoveries(days),
        **unit.service(StoreFigures).recoveries(days),
        **support.recoveries(days),
    }
    return Figures(
        days=days,
        activations=licensing.activations_a_day(days),
        validations=licensing.validations_a_day(days),
        new_licenses=licensing.new_licenses_a_day(days),
        devices=licensing.devices_with_a_seat(days),
        revenue=unit.service(StoreFigures).revenue_a_day(days),
        recoveries={channel: recoveries[channel] for channel in RECOVERY_CHANNELS},
        new_requests=support.new_requests_a_day(days),
        queue=support.queue_now(),
    )


def today(unit: UnitOfWork) -> date:
    """The unit's day (UTC), the end of a default range."""
    return unit.now.date()
