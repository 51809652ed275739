"""The unit of work: one request's or one job's transaction, keys, settings and moment, and
the services that work in it (docs/adr/0001, docs/adr/0009).

A route, a command or a job opens one unit and asks it for what it needs, by name::

    with web.unit(request) as unit:
        view = unit.licensing.activate(code, device)
        unit.audit("licensing.activated", subject_type="license", subject_id=view.id)

Each service is made once per unit, on first use, and holds the unit: a service that needs
another asks the unit for it (``self.unit.licensing``) instead of building it. Services
only flush; whoever opened the unit commits or rolls back.

The names are a table here, not imports: the unit sits below the domains (import-linter's
contract in pyproject.toml), so it imports a service's module only when the service is
first asked for. The type checker sees the names as the classes they are.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from licensor.audit import audit
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import enqueue

if TYPE_CHECKING:
    from licensor.accounts.authentication import Authentication
    from licensor.accounts.connect import Connect
    from licensor.accounts.devices import AccountDevices
    from licensor.accounts.emails import AccountEmails
    from licensor.accounts.license_details import LicenseDetails
    from licensor.accounts.licenses import AccountLicenses
    from licensor.accounts.purchases import AccountPurchases
    from licensor.accounts.security import AccountSecurity
    from licensor.accounts.service import Accounts
    from licensor.accounts.shared_licenses import SharedLicenses
    from licensor.accounts.sharing import LicenseSharing
    from licensor.accounts.two_factor import TwoFactor
    from licensor.licensing.codes import Codes
    from licensor.licensing.leases import Leases
    from licensor.licensing.licenses import Licenses
    from licensor.licensing.plans import Plans
    from licensor.licensing.reserves import Reserves
    from licensor.licensing.service import Licensing
    from licensor.store.checkout import Checkout
    from licensor.store.order_history import OrderHistory
    from licensor.store.order_lookup import OrderLookup
    from licensor.store.orders import Orders
    from licensor.store.partners import Partners
    from licensor.store.reminders import Reminders
    from licensor.store.renewals import Renewals
    from licensor.store.sales import PartnerSales
    from licensor.store.seat_release import SeatRelease
    from licensor.store.subscriptions import Subscriptions
    from licensor.support.account_requests import AccountRequests
    from licensor.support.desk.approvals import Approvals
    from licensor.support.desk.attaching import Attaching
    from licensor.support.desk.lookup import Lookup
    from licensor.support.desk.queue import Queue
    from licensor.support.desk.recovery import Recovery
    from licensor.support.desk.replies import Replies
    from licensor.support.desk.requests import Desk
    from licensor.support.service import Support
    from licensor.webhooks.service import Webhooks

# What ``unit.NAME`` hands out: "module:Class". A new service gets a line here, and one in
# the TYPE_CHECKING block above and the annotations of UnitOfWork below.
SERVICES = {
    "licensing": "licensor.licensing.service:Licensing",
    "codes": "licensor.licensing.codes:Codes",
    "licenses": "licensor.licensing.licenses:Licenses",
    "plans": "licensor.licensing.plans:Plans",
    "leases": "licensor.licensing.leases:Leases",
    "accounts": "licensor.accounts.service:Accounts",
    "two_factor": "licensor.accounts.two_factor:TwoFactor",
    "authentication": "licensor.accounts.authentication:Authentication",
    "account_licenses": "licensor.accounts.licenses:AccountLicenses",
    "license_details": "licensor.accounts.license_details:LicenseDetails",
    "account_devices": "licensor.accounts.devices:AccountDevices",
    "account_security": "licensor.accounts.security:AccountSecurity",
    "connect": "licensor.accounts.connect:Connect",
    "account_emails": "licensor.accounts.emails:AccountEmails",
    "account_purchases": "licensor.accounts.purchases:AccountPurchases",
    "license_sharing": "licensor.accounts.sharing:LicenseSharing",
    "shared_licenses": "licensor.accounts.shared_licenses:SharedLicenses",
    "partners": "licensor.store.partners:Partners",
    "orders": "licensor.store.orders:Orders",
    "partner_sales": "licensor.store.sales:PartnerSales",
    "checkout": "licensor.store.checkout:Checkout",
    "subscriptions": "licensor.store.subscriptions:Subscriptions",
    "renewals": "licensor.store.renewals:Renewals",
    "order_lookup": "licensor.store.order_lookup:OrderLookup",
    "seat_release": "licensor.store.seat_release:SeatRelease",
    "order_history": "licensor.store.order_history:OrderHistory",
    "reminders": "licensor.store.reminders:Reminders",
    "support": "licensor.support.service:Support",
    "account_requests": "licensor.support.account_requests:AccountRequests",
    "desk": "licensor.support.desk.requests:Desk",
    "desk_queue": "licensor.support.desk.queue:Queue",
    "desk_lookup": "licensor.support.desk.lookup:Lookup",
    "desk_replies": "licensor.support.desk.replies:Replies",
    "recovery": "licensor.support.desk.recovery:Recovery",
    "approvals": "licensor.support.desk.approvals:Approvals",
    "attaching": "licensor.support.desk.attaching:Attaching",
    "webhooks": "licensor.webhooks.service:Webhooks",
    "reserves": "licensor.licensing.reserves:Reserves",
}

S = TypeVar("S", bound="Service")


class UnitOfWork:
    """One open transaction, the keys, the settings, one moment, and who acts in it."""

    if TYPE_CHECKING:
        licensing: Licensing
        codes: Codes
        licenses: Licenses
        plans: Plans
        leases: Leases
        accounts: Accounts
        two_factor: TwoFactor
        authentication: Authentication
        account_licenses: AccountLicenses
        license_details: LicenseDetails
        account_devices: AccountDevices
        account_security: AccountSecurity
        connect: Connect
        account_emails: AccountEmails
        account_purchases: AccountPurchases
        license_sharing: LicenseSharing
        shared_licenses: SharedLicenses
        partners: Partners
        orders: Orders
        partner_sales: PartnerSales
        checkout: Checkout
        subscriptions: Subscriptions
        renewals: Renewals
        order_lookup: OrderLookup
        seat_release: SeatRelease
        order_history: OrderHistory
        reminders: Reminders
        support: Support
        account_requests: AccountRequests
        desk: Desk
        desk_queue: Queue
        desk_lookup: Lookup
        desk_replies: Replies
        recovery: Recovery
        approvals: Approvals
        attaching: Attaching
        webhooks: Webhooks
        reserves: Reserves

    def __init__(
        self,
        session: Session,
        keyring: Keyring,
        settings: Settings,
        now: datetime,
        *,
        actor: str = "system",
    ) -> None:
        self.session = session
        self.keyring = keyring
        self.settings = settings
        self.now = now
        self.actor = actor  # who the audit trail names, unless told otherwise
        self._services: dict[type[Service], Service] = {}

    def service(self, kind: type[S]) -> S:
        """This unit's one ``kind`` of service."""
        made = self._services.get(kind)
        if made is None:
            made = self._services[kind] = kind(self)
        return made  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        where = SERVICES.get(name)
        if where is None:
            raise AttributeError(f"a unit of work has no {name!r}")
        module, _, cls = where.partition(":")
        service = self.service(getattr(importlib.import_module(module), cls))
        setattr(self, name, service)  # the next use skips __getattr__
        return service

    def audit(
        self,
        action: str,
        *,
        subject_type: str,
        subject_id: int | None,
        reason: str | None = None,
        actor: str | None = None,
        **details: Any,
    ) -> None:
        """Record an event in this unit (licensor/audit.py), by ``actor`` or the unit's."""
        audit(
            self.session,
            self.now,
            actor=actor or self.actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            reason=reason,
            **details,
        )

    def send_mail(
        self,
        to: str,
        language: str,
        template: str,
        *,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> None:
        """Queue a mail in this unit, with the brand's name and colour in its context and a
        Message-ID of our sending domain (and any extra ``headers``); the worker sends it
        once this commits."""
        enqueue(
            self.session,
            self.keyring,
            self.now,
            to=to,
            template=template,
            language=language,
            context={
                "product": self.settings.product_name,
                "brand_color": self.settings.brand_color,
                **context,
            },
            sender_domain=self.settings.mail_domain,
            headers=headers,
        )


class Service:
    """Rules bound to one unit of work."""

    def __init__(self, unit: UnitOfWork) -> None:
        self.unit = unit

    @property
    def session(self) -> Session:
        return self.unit.session

    @property
    def keyring(self) -> Keyring:
        return self.unit.keyring

    @property
    def settings(self) -> Settings:
        return self.unit.settings

    @property
    def now(self) -> datetime:
        return self.unit.now

    def send_mail(self, to: str, language: str, template: str, **context: Any) -> None:
        self.unit.send_mail(to, language, template, **context)


@contextmanager
def open_unit(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    now: datetime,
    *,
    actor: str = "system",
) -> Iterator[UnitOfWork]:
    """A unit of work in a transaction of its own: committed when the block ends, rolled
    back if it raises (a command's, a job's, a test's)."""
    with database.transaction() as session:
        yield UnitOfWork(session, keyring, settings, now, actor=actor)
