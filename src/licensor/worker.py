"""``licensor worker``: one loop that does every domain's background work.

Each turn of the loop runs the periodic tasks that are due (subscription renewals each
minute, expiry reminders every five, forgetting old idempotency keys each hour), then
claims a few due jobs (the key read from a support screenshot, an order lookup) and runs
them, then claims a few due messages from the outbox and sends them, then a few webhook
deliveries and POSTs them. Jobs, messages and deliveries are claimed the same way
(licensor/leases.py): small claims under a lease, so a worker
killed mid-turn strands little, and nothing for longer than the lease. Periodic tasks
come first, so the mail they write goes out in the same turn; one that fails is logged
and tried again next turn.

``build_worker`` assembles it for ``licensor worker``, ``licensor demo`` (in a thread
beside the server, stopping with it) and the tests' fixtures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from licensor import idempotency, jobs
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import tasks as licensing_tasks
from licensor.logging import log, request_bound
from licensor.mail import delivery
from licensor.mail.sender import Sender, configured_sender
from licensor.store import tasks as store_tasks
from licensor.store.payments import PaymentProvider, load_provider
from licensor.store.reminder_scan import REMINDERS_EVERY, DueReminders
from licensor.store.renewals import RenewalRun
from licensor.support import tasks as support_tasks
from licensor.webhooks import delivery as webhook_delivery
from licensor.webhooks.expiry import EXPIRY_EVERY, ExpiryScan

# The domains' job handlers register as their modules are imported (``@jobs.handler``).
HANDLER_MODULES = (licensing_tasks, store_tasks, support_tasks)

PURGE_EVERY = timedelta(hours=1)


@dataclass
class Periodic:
    """A task the worker runs when ``every`` has passed on the clock since its last run
    (so a test that moves the clock runs it at once; so does a clock set back)."""

    name: str
    every: timedelta
    run: Callable[[datetime], object]
    last_run: datetime | None = None

    def __call__(self, moment: datetime) -> object | None:
        """Run if due; what the task returned, or None when it was not due."""
        if self.last_run is not None and timedelta(0) <= moment - self.last_run < self.every:
            return None
        self.last_run = moment
        return self.run(moment)


@dataclass(frozen=True)
class WorkDone:
    """What the worker did: the renewals' counts (None: no renewals ran), how many jobs it
    ran (done or not) and how many messages it sent."""

    renewals: RenewalRun | None = None
    jobs: int = 0
    sent: int = 0
    claimed: int = 0  # jobs and messages taken, sent or not: nothing claimed, nothing due

    def __add__(self, other: WorkDone) -> WorkDone:
        return WorkDone(
            self.renewals or other.renewals,
            self.jobs + other.jobs,
            self.sent + other.sent,
            self.claimed + other.claimed,
        )


@dataclass
class Worker:
    """The background work of one process: periodic tasks, jobs, then mail, in turns."""

    database: Database
    keyring: Keyring
    settings: Settings
    now: Callable[[], datetime]
    sender: Sender | None  # None: the mail waits in the outbox
    periodic: list[Periodic] = field(default_factory=list)
    mail_batch: int = delivery.BATCH
    mail_lease: timedelta = delivery.LEASE

    def task(self, name: str) -> Periodic:
        """The periodic task registered under ``name``."""
        return next(task for task in self.periodic if task.name == name)

    def turn(self) -> WorkDone:
        """Run the due periodic tasks, then one claim of jobs and one of messages."""
        renewals: RenewalRun | None = None
        for task in self.periodic:
            try:
                result = task(self.now())
            except Exception as error:
                log.error("worker.periodic_error", task=task.name, error=repr(error))
                continue
            if isinstance(result, RenewalRun):
                renewals = result
        ran = jobs.run_once(self.database, self.keyring, self.settings, self.now)
        sent, messages = 0, 0
        sender = self.sender
        if sender is not None:
            claimed = delivery.claim(
                self.database, self.now(), batch=self.mail_batch, lease=self.mail_lease
            )
            messages = len(claimed)
            for message in claimed:
                with request_bound(message.request_id):  # its records join the request's
                    sent += delivery.deliver(self.database, sender, message, self.now())
        return WorkDone(renewals, ran, sent, ran + messages + self._send_webhooks())

    def _send_webhooks(self) -> int:
        """One claim of due webhook deliveries, each POSTed; how many were claimed."""
        claimed = webhook_delivery.claim(self.database, self.now())
        for due in claimed:
            with request_bound(due.request_id):
                webhook_delivery.deliver(
                    self.database, self.keyring, self.settings, due, self.now()
                )
        return len(claimed)

    def run_until_idle(self) -> WorkDone:
        """Turn until a turn finds nothing due (``licensor worker --once``, the tests)."""
        done = WorkDone()
        while True:
            last = self.turn()
            done += last
            if last.claimed == 0:
                return done

    @contextmanager
    def running(self, *, idle_seconds: float = 2.0) -> Iterator[Worker]:
        """The worker turning in a thread of this process until the block ends, then
        stopped and waited for (``licensor demo``, the tests)."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_forever,
            args=(stop,),
            kwargs={"idle_seconds": idle_seconds},
            name="licensor-worker",
            daemon=True,
        )
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=60)

    def run_forever(self, stop: threading.Event, *, idle_seconds: float = 2.0) -> None:
        """Turn until ``stop`` is set, pausing ``idle_seconds`` whenever nothing was due."""
        log.info("worker.started")
        if self.sender is None:
            log.warning(delivery.OUTBOX_ONLY, hint=delivery.OUTBOX_ONLY_HINT)
        while not stop.is_set():
            try:
                idle = self.turn().claimed == 0
            except Exception as error:  # keep the worker alive across database hiccups
                log.error("worker.error", error=repr(error))
                idle = True
            if idle:
                stop.wait(idle_seconds)
        log.info("worker.stopped")


def build_worker(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    now: Callable[[], datetime],
    *,
    sender: Sender | None = None,
    provider: PaymentProvider | None = None,
    mail_batch: int = delivery.BATCH,
) -> Worker:
    """The worker, its periodic tasks registered: renewals each minute through
    ``provider`` (none without one), expiry reminders every few minutes, old idempotency
    keys forgotten each hour. Without a ``sender`` the mail waits in the outbox."""
    periodic = []
    if provider is not None:
        renewals = store_tasks.DueRenewals(database, keyring, settings, provider)
        periodic.append(Periodic("store.renewals", store_tasks.RENEWALS_EVERY, renewals))
    periodic.append(
        Periodic(
            "store.expiry_reminders", REMINDERS_EVERY, DueReminders(database, keyring, settings)
        )
    )
    periodic.append(
        Periodic(
            "idempotency.purge", PURGE_EVERY, lambda moment: idempotency.purge(database, moment)
        )
    )
    periodic.append(
        Periodic("webhooks.expiry", EXPIRY_EVERY, ExpiryScan(database, keyring, settings))
    )
    return Worker(
        database,
        keyring,
        settings,
        now,
        sender,
        periodic,
        mail_batch=mail_batch,
        mail_lease=timedelta(seconds=settings.mail_lease_seconds),
    )


def configured_worker(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    *,
    mail_batch: int = delivery.BATCH,
) -> Worker:
    """The worker as the settings say: mail over ``LICENSOR_SMTP_URL`` (or marked shown
    in the dev mailbox under ``licensor demo``), renewals through
    ``LICENSOR_PAYMENT_PROVIDER``. Raises ``PaymentSetupError`` when that is unusable."""
    return build_worker(
        database,
        keyring,
        settings,
        clock.now,
        sender=configured_sender(settings, keyring),
        provider=load_provider(settings, keyring, clock),
        mail_batch=mail_batch,
    )
