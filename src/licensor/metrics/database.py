"""What the database says, for ``GET /metrics`` (licensor/metrics): read at each scrape, so
the same whichever process or host answers it (outbox, jobs, recoveries)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, or_, select

from licensor.clock import Clock
from licensor.db import Database
from licensor.logging import log
from licensor.models import AuditChain, AuditEvent, Job, Order, OutboxMessage

# Recoveries, by where each is audited: the channel an action (and its details) names.
LINKED = "accounts.license_linked"  # accounts/licenses.py: via the app, or a connected device
LOOKUP = "store.order_lookup"  # store/order_lookup.py: a matched lookup (a partner's order:
# the customer is pointed to the partner; the store's: the confirmation is sent again)
CODE_SENT = "support.code_sent"  # support/desk/recovery.py: an agent sends the code
RECOVERY_ACTIONS = (LINKED, LOOKUP, CODE_SENT)
LINKED_FROM_DEVICE = frozenset({"app", "device_code"})  # typed on the web: no recovery
CHANNELS = ("account_link", "order_lookup", "partner_pointer", "support_desk")


def _channel(action: str, via: str | None, partner: bool | None) -> str | None:
    if action == LINKED:
        return "account_link" if via in LINKED_FROM_DEVICE else None
    if action == LOOKUP:
        return "partner_pointer" if partner else "order_lookup"
    return "support_desk"


class DatabaseFigures(Collector):
    """What the database says, read at each scrape: the same whichever process answers.

    Recoveries are counted from the audit trail, where every recovery is written whichever
    process made it (an order lookup is the worker's). The trail is append-only and its
    sequence numbers are given out in commit order (``audit.py``), so each scrape reads
    only the rows after the last one it counted."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock
        self._lock = threading.Lock()
        self._counted_up_to = 0
        self._recoveries = dict.fromkeys(CHANNELS, 0)

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "licensor_metrics_database_up", "Whether this scrape could read the database."
        )
        try:
            with self._lock:
                families = self._read(self.clock.now())
        except Exception as error:  # away: the process's own figures still go out
            log.warning("metrics.database_unavailable", error=type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, now: datetime) -> list[Metric]:
        with self.database.engine.connect() as connection:
            pending, oldest = connection.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(
                    OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)
                )
            ).one()
            given_up = connection.execute(
                select(func.count()).where(
                    OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_not(None)
                )
            ).scalar_one()
            due, oldest_due = connection.execute(
                select(func.count(), func.min(Job.next_attempt_at)).where(
                    Job.done_at.is_(None),
                    Job.failed_at.is_(None),
                    Job.next_attempt_at <= now,
                    or_(Job.claimed_until.is_(None), Job.claimed_until <= now),
                )
            ).one()
            self._count_recoveries(connection)
        return [
            _gauge("licensor_outbox_pending_messages", "Mail waiting to be sent.", pending),
            _gauge(
                "licensor_outbox_oldest_pending_age_seconds",
                "Age of the oldest mail waiting to be sent (0: none waits).",
                _age(now, oldest),
            ),
            _gauge(
                "licensor_outbox_failed_messages",
                "Mail given up after its last attempt.",
                given_up,
            ),
            _gauge("licensor_jobs_due", "Background jobs due and not taken by a worker.", due),
            _gauge(
                "licensor_job_lag_seconds",
                "How long the oldest due background job has waited for a worker (0: none).",
                _age(now, oldest_due),
            ),
            self._recoveries_family(),
        ]

    def _count_recoveries(self, connection: Any) -> None:
        head = connection.execute(select(AuditChain.seq).where(AuditChain.id == 1)).scalar()
        if head is None or head < self._counted_up_to:
            # A chain shorter than what was counted: a database restored from a backup.
            # Counted again from the start (Prometheus takes it as a counter's reset).
            self._counted_up_to = 0
            self._recoveries = dict.fromkeys(CHANNELS, 0)
        if head is None or head == self._counted_up_to:
            return
        after = AuditEvent.chain_seq > self._counted_up_to
        if self._counted_up_to == 0:  # the first count takes rows from before the chain too
            after = or_(after, AuditEvent.chain_seq.is_(None))
        rows = (
            select(
                AuditEvent.action.label("action"),
                AuditEvent.details["via"].as_string().label("via"),
                Order.partner_id.is_not(None).label("partner"),
            )
            .select_from(AuditEvent)
            .outerjoin(Order, and_(AuditEvent.action == LOOKUP, Order.id == AuditEvent.subject_id))
            .where(
                AuditEvent.action.in_(RECOVERY_ACTIONS),
                # A lookup that matched no order recovered nothing.
                or_(AuditEvent.action != LOOKUP, AuditEvent.subject_id.is_not(None)),
                after,
                or_(AuditEvent.chain_seq.is_(None), AuditEvent.chain_seq <= head),
            )
            .subquery()
        )
        counted = connection.execute(
            select(rows.c.action, rows.c.via, rows.c.partner, func.count()).group_by(
                rows.c.action, rows.c.via, rows.c.partner
            )
        )
        for action, via, partner, count in counted:
            channel = _channel(action, via, partner)
            if channel is not None:
                self._recoveries[channel] += count
        self._counted_up_to = head

    def _recoveries_family(self) -> Metric:
        family = CounterMetricFamily(
            "licensor_recoveries",
            "Lost activation codes recovered, by channel (from the audit trail).",
            labels=["channel"],
        )
        for channel in CHANNELS:
            family.add_metric([channel], self._recoveries[channel])
        return family


def _gauge(name: str, documentation: str, value: float) -> Metric:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def _age(now: datetime, then: Any) -> float:
    """Seconds since ``then`` (the driver's datetime or SQLite's text), never negative."""
    if then is None:
        return 0.0
    if isinstance(then, str):
        then = datetime.fromisoformat(then)
    if then.tzinfo is None:
        then = then.replace(tzinfo=now.tzinfo)
    seconds: float = (now - then).total_seconds()
    return max(0.0, seconds)
