"""The store's background work in ``licensor worker``: subscription renewals, and the
order lookups the lookup form queues (``store.order_lookup``, after the renewals below).

``run_due`` renews, retries and expires every subscription whose period has ended,
except those a provider bills itself (Stripe Billing: its invoice webhooks renew them,
``Renewals.billed_invoice``):

1. one short transaction reads what is due (``Renewals.due``), in batches by id;
2. for each, the payment provider charges the saved payment method, **outside any
   transaction**, under our idempotency key (``renewal_reference``: one subscription
   period, one day of attempts);
3. one transaction per subscription applies the answer under a row lock
   (``Renewals.settle_renewal``), after checking the subscription is still at the
   period that was charged.

Why the charge is outside the row lock: a provider may take seconds to answer (or time
out), and holding a transaction and a lock on the subscription for that long would tie a
database connection to the network and make the customer's own "Turn off renewal" wait
on it. Charging inside the lock would buy one thing, that nobody else can touch the
subscription while it is charged; here the idempotency key gives the same safety against
paying twice: two workers that read the same due subscription present the same reference,
the provider takes the money once and answers both alike, and the second settle finds the
period already moved on and does nothing. A crash between the charge and the settle
loses nothing either: the next run presents the same reference and gets the same answer.
What the lock cannot stop is a customer turning renewal off while the charge is on its
way: that payment is honoured (one more period, then the subscription expires), because
money taken means service delivered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from licensor import jobs
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import PaymentUnavailable
from licensor.keys import Keyring
from licensor.logging import log
from licensor.store.order_lookup import JOB as ORDER_LOOKUP_JOB
from licensor.store.payments import PaymentOutcome, PaymentProvider, PaymentResult, RecurringCharge
from licensor.store.renewals import Charge, RenewalOutcome, RenewalRun
from licensor.units import open_unit

BATCH = 100
RENEWALS_EVERY = timedelta(minutes=1)
_MEMO_LIMIT = 10_000


def run_due(
    database: Database, keyring: Keyring, settings: Settings, now: datetime, charge: Charge
) -> RenewalRun:
    """Renew, retry or expire every subscription whose period ended by ``now``."""
    counts = dict.fromkeys(RenewalOutcome, 0)
    after_id = 0
    while True:
        with open_unit(database, keyring, settings, now, actor="worker") as unit:
            due = unit.renewals.due(after_id=after_id, limit=BATCH)
        for renewal in due:
            result: PaymentResult | None = None
            if renewal.charge is not None:
                try:
                    result = charge(renewal.charge)
                except PaymentUnavailable as error:
                    log.warning(
                        "store.renewal_unavailable",
                        subscription=renewal.subscription_id,
                        reference=renewal.charge.reference,
                        error=str(error),
                    )
                if result is not None and result.reference != renewal.charge.reference:
                    log.error(
                        "store.renewal_wrong_reference",
                        subscription=renewal.subscription_id,
                        expected=renewal.charge.reference,
                        answered=result.reference,
                    )
                    result = None
            with open_unit(database, keyring, settings, now, actor="worker") as unit:
                outcome = unit.renewals.settle_renewal(renewal, result)
            counts[outcome] += 1
            if outcome != RenewalOutcome.UNCHANGED:
                log.info(f"store.subscription_{outcome}", subscription=renewal.subscription_id)
        if len(due) < BATCH:
            break
        after_id = due[-1].subscription_id
    return RenewalRun(
        renewed=counts[RenewalOutcome.RENEWED],
        past_due=counts[RenewalOutcome.PAST_DUE],
        expired=counts[RenewalOutcome.EXPIRED],
        unchanged=counts[RenewalOutcome.UNCHANGED],
    )


def provider_charge(provider: PaymentProvider) -> Charge:
    """The provider's ``charge``, refusing at once what it could not charge: no saved
    payment method means a declined renewal, not a call."""

    def charge(renewal: RecurringCharge) -> PaymentResult:
        if not renewal.payment_method:
            return PaymentResult(
                reference=renewal.reference,
                outcome=PaymentOutcome.FAILED,
                amount_cents=renewal.amount_cents,
                currency=renewal.currency,
            )
        return provider.charge(renewal)

    return charge


class DueRenewals:
    """``run_due`` as the worker runs it, each minute (``RENEWALS_EVERY``, licensor/worker.py).

    A declined answer is remembered for its reference: the same reference would get the
    same answer from the provider (that is what the key is for), so a past-due
    subscription costs one provider call a day, not one a minute. The memory is only a
    shortcut: another worker process without it asks the provider and gets the same
    answer."""

    def __init__(
        self, database: Database, keyring: Keyring, settings: Settings, provider: PaymentProvider
    ) -> None:
        self.database = database
        self.keyring = keyring
        self.settings = settings
        self._charge = provider_charge(provider)
        self._declined: dict[str, PaymentResult] = {}

    def charge(self, renewal: RecurringCharge) -> PaymentResult:
        known = self._declined.get(renewal.reference)
        if known is not None:
            return known
        result = self._charge(renewal)
        if result.outcome == PaymentOutcome.FAILED:
            if len(self._declined) >= _MEMO_LIMIT:
                self._declined.clear()
            self._declined[renewal.reference] = result
        return result

    def __call__(self, moment: datetime) -> RenewalRun:
        return run_due(self.database, self.keyring, self.settings, moment, self.charge)


@jobs.handler(ORDER_LOOKUP_JOB, max_attempts=5)
def order_lookup(context: jobs.JobContext, payload: dict[str, Any]) -> None:
    """Match a lookup against the orders and mail the order's own address (F5)."""
    with context.unit() as unit:
        unit.order_lookup.run(payload["sealed"])
