"""What the store counts for the console's dashboard and ``licensor report figures``: revenue
a day per currency, and the codes recovered through order lookup (F5), split by whether the
order was ours (its confirmation sent again) or a partner's (the customer pointed to it).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, case, func, literal, select, union_all

from licensor.daily import DayRange, as_day, day_of
from licensor.models import AuditEvent, Channel, Order, OrderStatus
from licensor.store.order_lookup import MATCHED
from licensor.units import Service

# Recovery channels of an order lookup that matched.
ORDER_LOOKUP = "order_lookup"
PARTNER_POINTER = "partner_pointer"


class StoreFigures(Service):
    """The store's figures over a range of days."""

    def revenue_a_day(self, days: DayRange) -> dict[str, list[int]]:
        """Cents taken each day, by currency: store orders paid on their purchase day (tax
        included), less refunds on the day they were refunded. Partners' sales are theirs."""
        session = self.session
        paid = select(
            day_of(session, Order.purchased_at).label("day"),
            Order.currency.label("currency"),
            Order.total_cents.label("cents"),
        ).where(
            Order.channel == Channel.STORE,
            Order.status.in_((OrderStatus.PAID, OrderStatus.REFUNDED)),
            Order.purchased_at >= days.start,
            Order.purchased_at < days.end,
        )
        refunded = select(
            day_of(session, Order.refunded_at), Order.currency, -Order.total_cents
        ).where(
            Order.channel == Channel.STORE,
            Order.refunded_at >= days.start,
            Order.refunded_at < days.end,
        )
        moves = union_all(paid, refunded).subquery()
        rows = session.execute(
            select(moves.c.day, moves.c.currency, func.sum(moves.c.cents)).group_by(
                moves.c.day, moves.c.currency
            )
        )
        index = {day: n for n, day in enumerate(days.days)}
        by_currency: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
        for day, currency, cents in rows:  # a row a day and currency, no more
            by_currency[currency][index[as_day(day)]] = int(cents or 0)
        return dict(sorted(by_currency.items()))

    def recoveries(self, days: DayRange) -> dict[str, int]:
        """Order lookups that matched over the range: our orders' confirmations sent again
        (``order_lookup``), partners' orders answered with the partner (``partner_pointer``)."""
        channel = case(
            (Order.partner_id.is_(None), literal(ORDER_LOOKUP)), else_=literal(PARTNER_POINTER)
        )
        rows = self.session.execute(
            select(channel, func.count())
            .select_from(AuditEvent)
            .join(
                Order,
                and_(AuditEvent.subject_type == "order", AuditEvent.subject_id == Order.id),
            )
            .where(
                AuditEvent.action == MATCHED,
                AuditEvent.occurred_at >= days.start,
                AuditEvent.occurred_at < days.end,
            )
            .group_by(channel)
        )
        counts: dict[str, int] = dict(rows.all())
        return {name: int(counts.get(name, 0)) for name in (ORDER_LOOKUP, PARTNER_POINTER)}
