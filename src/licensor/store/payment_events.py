"""A payment provider's webhook event is acted on once (docs/payments.md).

Providers deliver at least once: the same event again after a timeout, or twice at the same
moment from two of their servers. Each event carries an id of theirs; the first delivery
records it in ``payment_events`` in the same transaction as what the event does, so a
later delivery finds it and does nothing, and two at once meet on the unique index: on
PostgreSQL the second insert waits for the first transaction and then inserts nothing; on
SQLite transactions are serial.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from licensor.models import PaymentEvent

_EVENTS = cast(Table, PaymentEvent.__table__)
_INSERT_EVENT = {
    "postgresql": postgresql.insert(_EVENTS)
    .on_conflict_do_nothing(index_elements=["provider", "event_id"])
    .returning(_EVENTS.c.id),
    "sqlite": sqlite.insert(_EVENTS)
    .on_conflict_do_nothing(index_elements=["provider", "event_id"])
    .returning(_EVENTS.c.id),
}


def first_delivery(
    session: Session,
    *,
    provider: str,
    event_id: str,
    event_type: str,
    now: datetime,
    order_id: int | None = None,
) -> bool:
    """Record the event; True the first time its id is seen, False for a repeat (then the
    caller does nothing). Call it in the transaction that acts on the event, first."""
    insert = _INSERT_EVENT[session.get_bind().dialect.name]
    row = session.execute(
        insert.values(
            provider=provider,
            event_id=event_id[:200],
            event_type=event_type[:100],
            order_id=order_id,
            received_at=now,
        )
    ).first()
    return row is not None


def note_order(session: Session, *, provider: str, event_id: str, order_id: int) -> None:
    """Name the order an event recorded by ``first_delivery`` acted on (the console shows
    an order's events)."""
    session.execute(
        update(_EVENTS)
        .where(_EVENTS.c.provider == provider, _EVENTS.c.event_id == event_id[:200])
        .values(order_id=order_id)
    )
