"""What the support desk counts for the console's dashboard and ``licensor report figures``:
the queue now (requests not solved, the oldest and the median age), new requests a day, and
codes recovered at the desk (F6, F7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from licensor.daily import DayRange, count_actions, day_of, dense
from licensor.models import RequestStatus, SupportRequest
from licensor.units import Service

# The desk's actions that hand a customer back a code or a purchase.
RECOVERY_ACTIONS = (
    "support.code_sent",
    "support.code_replaced",
    "support.code_attached",
    "support.order_attached",
)
SUPPORT_DESK = "support_desk"

_UNSOLVED = (RequestStatus.NEW, RequestStatus.OPEN, RequestStatus.WAITING)


@dataclass(frozen=True)
class QueueNow:
    """The requests not yet solved, and how long they have been waiting."""

    size: int
    oldest_age: timedelta | None
    median_age: timedelta | None


class SupportFigures(Service):
    """The desk's figures."""

    def queue_now(self) -> QueueNow:
        """How many requests are not solved, and the ages of the oldest and the median one
        (found by offset along the ``created_at`` index, not by reading every request)."""
        unsolved = SupportRequest.status.in_(_UNSOLVED)
        size, oldest = self.session.execute(
            select(func.count(), func.min(SupportRequest.created_at)).where(unsolved)
        ).one()
        if not size:
            return QueueNow(0, None, None)
        middle = self.session.scalar(
            select(SupportRequest.created_at)
            .where(unsolved)
            .order_by(SupportRequest.created_at)
            .offset((size - 1) // 2)
            .limit(1)
        )
        # A request solved between the two reads (on PostgreSQL each sees the latest
        # commit) can leave no row at the offset: the oldest stands in, not a 500.
        median = middle if middle is not None else oldest
        # min() keeps the column's type: a UTC moment on both databases.
        return QueueNow(int(size), self.now - oldest, self.now - median)

    def new_requests_a_day(self, days: DayRange) -> list[int]:
        """Requests opened each day."""
        day = day_of(self.session, SupportRequest.created_at)
        rows = self.session.execute(
            select(day, func.count())
            .where(SupportRequest.created_at >= days.start, SupportRequest.created_at < days.end)
            .group_by(day)
        )
        return dense(rows, days)

    def recoveries(self, days: DayRange) -> dict[str, int]:
        """Codes and purchases the desk handed back over the range."""
        return {SUPPORT_DESK: sum(count_actions(self.session, RECOVERY_ACTIONS, days).values())}
