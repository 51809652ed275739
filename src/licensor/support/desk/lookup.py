"""What an agent finds from a request: one lookup across order number, email, activation
code, license key and public license ID; a license's and a code's details.

Looking up is not a disclosure: codes are masked everywhere on the desk (revealing one is
``recovery.py``'s ``send_code``). A list is loaded in a few queries whatever its length:
the codes with their plans and licenses (``CODE_WITH_LICENSE``), then the accounts' emails
and the orders' numbers they name, each in one query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import selectinload

from licensor.accounts.service import normalize_email
from licensor.errors import (
    CodeMalformed,
    CodeUnknown,
    LicenseKeyMalformed,
    LicenseUnknown,
    NotFound,
)
from licensor.licensing import formats
from licensor.licensing.codes import CODE_WITH_LICENSE, code_state
from licensor.licensing.licenses import LICENSE_WITH_CODE, license_status
from licensor.licensing.seats import devices_limit
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    AuditEvent,
    License,
    Order,
)
from licensor.store.orders import ORDER_IN_FULL, order_number_key
from licensor.units import Service
from licensor.web.i18n import N_

MISTYPED_CODE = N_(
    "This looks like an activation code, but its check value does not match: "
    "check it for typing mistakes."
)
MISTYPED_KEY = N_(
    "This looks like a license key, but its check value does not match: check each digit."
)

_PUBLIC_ID = re.compile(r"^LIC-?[0-9A-Z]{4}-?[0-9A-Z]{4}$")
_CODE_SHAPE = re.compile(r"^[0-9A-Z]{20}$")
_KEY_SHAPE = re.compile(r"^[0-9A-FO]{32}$")
_COMPACT = str.maketrans("", "", " -\t_.")
LOOKUP_LIMIT = 50


@dataclass(frozen=True)
class CodeRow:
    id: int
    masked: str
    plan: str
    state: str
    origin: str
    license_public_id: str | None
    account_email: str | None
    order_number: str | None
    account_id: int | None = None  # the console links the account's page


@dataclass(frozen=True)
class LicenseRow:
    id: int
    public_id: str
    plan: str
    status: str
    expires_at: datetime
    devices_used: int
    devices_max: int


@dataclass(frozen=True)
class OrderRow:
    order: Order
    account_email: str | None
    codes: list[CodeRow]


@dataclass(frozen=True)
class AccountRow:
    account: Account
    codes: list[CodeRow]


@dataclass(frozen=True)
class LookupResult:
    kind: str  # order_number, email, activation_code, license_key, public_id, empty
    query: str
    orders: list[OrderRow]
    accounts: list[AccountRow]
    licenses: list[LicenseRow]
    codes: list[CodeRow]

    @property
    def empty(self) -> bool:
        return not (self.orders or self.accounts or self.licenses or self.codes)


@dataclass(frozen=True)
class Seat:
    activation: Activation
    device_name: str
    platform: str
    fingerprint: str


@dataclass(frozen=True)
class LicenseDetail:
    license: License
    row: LicenseRow
    seats: list[Seat]


@dataclass(frozen=True)
class CodeDetail:
    code: ActivationCode
    row: CodeRow
    license: LicenseRow | None
    order: Order | None
    account: Account | None
    blocked_reason: str | None
    replaced_by: int | None


def classify(text: str) -> str:
    """Which identifier an agent typed, by its format (before any check value)."""
    compact = text.strip().upper().translate(_COMPACT)
    if not compact:
        return "empty"
    if "@" in text:
        return "email"
    if _PUBLIC_ID.match(text.strip().upper()):
        return "public_id"
    if _CODE_SHAPE.match(compact) and not compact.startswith("ORD"):
        return "activation_code"
    if _KEY_SHAPE.match(compact):
        return "license_key"
    return "order_number"


class Lookup(Service):
    """The desk's lookups and details, bound to one unit of work."""

    def search(self, text: str) -> tuple[LookupResult | None, str | None]:
        """What a staff page's search box finds for ``text`` (at most 200 characters
        read), or the mistake to show beside the box (untranslated) when a code or key
        fails its check value: the desk's lookup and the console's search alike."""
        try:
            return self.lookup(text[:200]), None
        except CodeMalformed:
            return None, MISTYPED_CODE
        except LicenseKeyMalformed:
            return None, MISTYPED_KEY

    def lookup(self, text: str) -> LookupResult:
        """Orders, accounts, licenses and codes for one identifier; a code or key that
        fails its check value is ``CodeMalformed`` or ``LicenseKeyMalformed``."""
        kind = classify(text)
        query = text.strip()
        found = LookupResult(kind, query, [], [], [], [])
        if kind == "activation_code":
            try:
                code = self.unit.codes.find_code(query)
            except CodeUnknown:
                return found
            found.codes.extend(self.code_rows([code]))
            if code.license is not None:
                found.licenses.append(self.license_row(code.license))
        elif kind in ("license_key", "public_id"):
            license = self._license_named(kind, query)
            if license is not None:
                found.licenses.append(self.license_row(license))
                if license.activation_code is not None:
                    code = self.code(license.activation_code.id)  # with its license
                    found.codes.extend(self.code_rows([code]))
        elif kind == "email":
            email = normalize_email(query)
            account = self.session.scalar(select(Account).where(Account.email == email))
            if account is not None:
                codes = self._codes(ActivationCode.account_id == account.id, LOOKUP_LIMIT)
                found.accounts.append(AccountRow(account, self.code_rows(codes)))
            found.orders.extend(self._order_rows(Order.customer_email == email))
        elif kind == "order_number":
            found.orders.extend(self._order_rows(Order.number_key == order_number_key(query)))
        return found

    def _license_named(self, kind: str, query: str) -> License | None:
        if kind == "license_key":
            try:
                return self.unit.licenses.find_license(query)
            except LicenseUnknown:
                return None
        compact = query.upper().translate(_COMPACT)
        public_id = f"{compact[:3]}-{compact[3:7]}-{compact[7:]}"
        named = select(License).where(License.public_id == public_id)
        return self.session.scalar(named.options(*LICENSE_WITH_CODE))

    # rows ------------------------------------------------------------------------------

    def code_rows(self, codes: Sequence[ActivationCode]) -> list[CodeRow]:
        """Rows of codes read ``CODE_WITH_LICENSE``; the accounts' emails and the orders'
        numbers in one query each."""
        emails = self._emails(code.account_id for code in codes)
        numbers = self._order_numbers(code.order_id for code in codes)
        reveal = self.unit.codes.reveal_code
        return [
            CodeRow(
                id=code.id,
                masked=formats.mask_code(reveal(code)),
                plan=code.plan.name,
                state=code_state(code, self.now),
                origin=code.origin,
                license_public_id=code.license.public_id if code.license else None,
                account_email=emails.get(code.account_id) if code.account_id else None,
                order_number=numbers.get(code.order_id) if code.order_id else None,
                account_id=code.account_id,
            )
            for code in codes
        ]

    def license_row(self, license: License) -> LicenseRow:
        used = self.session.scalar(
            select(func.count(Activation.id)).where(
                Activation.license_id == license.id, Activation.released_at.is_(None)
            )
        )
        return LicenseRow(
            id=license.id,
            public_id=license.public_id,
            plan=license.plan.name,
            status=license_status(license, self.now),
            expires_at=license.expires_at,
            devices_used=used or 0,
            devices_max=devices_limit(license),
        )

    def _order_rows(self, condition: ColumnElement[bool]) -> list[OrderRow]:
        """The newest orders matching, each with its codes: a few queries, however many."""
        orders = self.session.scalars(
            select(Order)
            .where(condition)
            .options(selectinload(Order.partner))
            .order_by(Order.purchased_at.desc())
            .limit(LOOKUP_LIMIT)
        ).all()
        if not orders:
            return []
        codes = self._codes(ActivationCode.order_id.in_([order.id for order in orders]))
        rows_by_order: dict[int, list[CodeRow]] = {order.id: [] for order in orders}
        for code, row in zip(codes, self.code_rows(codes), strict=True):
            rows_by_order[code.order_id or 0].append(row)
        emails = self._emails(order.account_id for order in orders)
        return [
            OrderRow(
                order,
                emails.get(order.account_id) if order.account_id else None,
                rows_by_order[order.id],
            )
            for order in orders
        ]

    def _codes(
        self, condition: ColumnElement[bool], limit: int | None = None
    ) -> list[ActivationCode]:
        query = (
            select(ActivationCode)
            .where(condition)
            .options(*CODE_WITH_LICENSE)
            .order_by(ActivationCode.id)
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def _emails(self, account_ids: Iterable[int | None]) -> dict[int, str]:
        wanted = {account_id for account_id in account_ids if account_id is not None}
        if not wanted:
            return {}
        found = self.session.execute(
            select(Account.id, Account.email).where(Account.id.in_(wanted))
        )
        return {account_id: email for account_id, email in found}

    def _order_numbers(self, order_ids: Iterable[int | None]) -> dict[int, str]:
        wanted = {order_id for order_id in order_ids if order_id is not None}
        if not wanted:
            return {}
        found = self.session.execute(select(Order.id, Order.number).where(Order.id.in_(wanted)))
        return {order_id: number for order_id, number in found}

    # details ---------------------------------------------------------------------------

    def license_detail(self, public_id: str) -> LicenseDetail:
        """A license with every seat it ever had, oldest first, and each seat's device."""
        license = self.session.scalar(
            select(License)
            .where(License.public_id == public_id.strip().upper())
            .options(*LICENSE_WITH_CODE)
        )
        if license is None:
            raise NotFound("there is no license with this public ID")
        activations = self.session.scalars(
            select(Activation)
            .where(Activation.license_id == license.id)
            .options(selectinload(Activation.device))
            .order_by(Activation.activated_at, Activation.id)
        )
        seats = [
            Seat(seat, seat.device.name, seat.device.platform, seat.device.fingerprint[:12])
            for seat in activations
        ]
        return LicenseDetail(license, self.license_row(license), seats)

    def code_detail(self, code_id: int) -> CodeDetail:
        """A code with its license, order, account, and the code that replaced it."""
        code = self.code(code_id)
        replaced = self.session.scalar(
            select(AuditEvent)
            .where(
                AuditEvent.action == "support.code_replaced",
                AuditEvent.subject_type == "activation_code",
                AuditEvent.subject_id == code.id,
            )
            .order_by(AuditEvent.id.desc())
        )
        return CodeDetail(
            code=code,
            row=self.code_rows([code])[0],
            license=self.license_row(code.license) if code.license else None,
            order=self.session.get(Order, code.order_id) if code.order_id else None,
            account=self.session.get(Account, code.account_id) if code.account_id else None,
            blocked_reason=code.blocked_reason,
            replaced_by=int(replaced.details["replacement_id"]) if replaced else None,
        )

    # rows by the ids the desk's forms post: NotFound (404) for any other ---------------

    def code(self, code_id: int, *, lock: bool = False) -> ActivationCode:
        """The code with its plan and license (``lock``: its row locked)."""
        try:
            return self.unit.codes.get_code(code_id, lock=lock)
        except CodeUnknown:
            raise NotFound("there is no such activation code") from None

    def license(self, license_id: int, *, lock: bool = False) -> License:
        """The license with its plan and code (``lock``: its row locked)."""
        try:
            return self.unit.licenses.get_license(license_id, lock=lock)
        except LicenseUnknown:
            raise NotFound("there is no such license") from None

    def order(self, order_id: int, *, lock: bool = False) -> Order:
        """The order with its items and partner (``lock``: its row locked)."""
        query = select(Order).where(Order.id == order_id).options(*ORDER_IN_FULL)
        order = self.session.scalar(query.with_for_update(of=Order) if lock else query)
        if order is None:
            raise NotFound("there is no such order")
        return order
