"""What the licensing domain counts a day for the console's dashboard and ``licensor report
figures``: activations, validations, new licenses, and devices holding a seat.

One ``GROUP BY`` query a series over the range (``licensor.daily``), never a loop over rows.
"""

from __future__ import annotations

from itertools import accumulate

from sqlalchemy import case, func, literal, select, union_all

from licensor.daily import DayRange, day_of, dense
from licensor.licensing.last_seen import VALIDATIONS_METRIC
from licensor.models import Activation, License, UsageDay
from licensor.units import Service


class LicensingFigures(Service):
    """Licensing's counts a day over a range of days."""

    def activations_a_day(self, days: DayRange) -> list[int]:
        """Seats taken each day (a device's first activation of a license; the same device
        activating again reuses its seat and is not counted)."""
        day = day_of(self.session, Activation.activated_at)
        rows = self.session.execute(
            select(day, func.count())
            .where(Activation.activated_at >= days.start, Activation.activated_at < days.end)
            .group_by(day)
        )
        return dense(rows, days)

    def validations_a_day(self, days: DayRange) -> list[int]:
        """Validations answered each day, valid or not (counted by the validation path's
        writer, ``licensing/last_seen.py``)."""
        rows = self.session.execute(
            select(UsageDay.day, UsageDay.count).where(
                UsageDay.metric == VALIDATIONS_METRIC,
                UsageDay.day >= days.first,
                UsageDay.day <= days.last,
            )
        )
        return dense(rows, days)

    def new_licenses_a_day(self, days: DayRange) -> list[int]:
        """Licenses made each day (a code's first activation, or a subscription started)."""
        day = day_of(self.session, License.created_at)
        rows = self.session.execute(
            select(day, func.count())
            .where(License.created_at >= days.start, License.created_at < days.end)
            .group_by(day)
        )
        return dense(rows, days)

    def devices_with_a_seat(self, days: DayRange) -> list[int]:
        """Devices holding a seat at the end of each day: seats taken by then and not yet
        released. One query adds each seat taken (+1) and released (-1) on its day, those
        from before the range on its first day; the running sum is each day's figure."""
        session, first = self.session, days.first
        taken_day = day_of(session, Activation.activated_at)
        released_day = day_of(session, Activation.released_at)
        taken = select(
            case((Activation.activated_at < days.start, literal(first)), else_=taken_day).label(
                "day"
            ),
            literal(1).label("change"),
        ).where(Activation.activated_at < days.end)
        released = select(
            case((Activation.released_at < days.start, literal(first)), else_=released_day),
            literal(-1),
        ).where(Activation.released_at.is_not(None), Activation.released_at < days.end)
        changes = union_all(taken, released).subquery()
        rows = session.execute(
            select(changes.c.day, func.sum(changes.c.change)).group_by(changes.c.day)
        )
        return list(accumulate(dense(rows, days)))
