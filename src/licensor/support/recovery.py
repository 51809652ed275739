"""What an agent finds and does from a support request: one lookup across order number,
email, activation code, license key and public license ID; a license's and a code's
details; and the actions — send a code to an email of record, release seats, block a code
and issue its replacement. Attaching an order or a code to the customer's account (F7)
is ``attaching.py``.

Looking up is not a disclosure: codes are masked everywhere on the desk. Revealing a code
happens only by sending it, to an address of record chosen by its role (the requester,
the account holding the code, the order that delivered it), never a typed address. Every
action is audited (who, what, when, why), written on the request's thread, and its owner
told by mail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from licensor.accounts.service import mask_email, normalize_email
from licensor.audit import audit
from licensor.clock import mail_time
from licensor.errors import (
    CodeUnknown,
    DestinationNotOfRecord,
    FormInvalid,
    LicenseUnknown,
    NotFound,
)
from licensor.licensing import formats
from licensor.licensing.service import Licensing, code_state, license_status
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    AuditEvent,
    CodeOrigin,
    CodeState,
    License,
    Order,
    RequestStatus,
    SupportRequest,
)
from licensor.store.service import order_number_key
from licensor.support.desk import record_action
from licensor.units import Service

_PUBLIC_ID = re.compile(r"^LIC-?[0-9A-Z]{4}-?[0-9A-Z]{4}$")
_CODE_SHAPE = re.compile(r"^[0-9A-Z]{20}$")
_KEY_SHAPE = re.compile(r"^[0-9A-FO]{32}$")
_COMPACT = str.maketrans("", "", " -\t_.")
LOOKUP_LIMIT = 50
AFTER_SEND = (RequestStatus.WAITING, RequestStatus.SOLVED)


# --- what the desk shows -------------------------------------------------------------------


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


@dataclass(frozen=True)
class LicenseRow:
    id: int
    public_id: str
    plan: str
    status: str
    expires_at: datetime
    devices_used: int
    devices_max: int
    code: CodeRow | None


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
class Destination:
    """An email of record a code may go to, named by its role."""

    role: str  # "request", "account", "order"
    email: str
    language: str
    proven: bool  # the requester's screenshot shows this code's license, verified


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


class Recovery(Service):
    """Lookups and actions on codes, licenses and orders, bound to one unit of work."""

    @property
    def licensing(self) -> Licensing:
        return self.unit.licensing

    # lookup ----------------------------------------------------------------------------

    def lookup(self, text: str) -> LookupResult:
        """Orders, accounts, licenses and codes for one identifier; a code or key that
        fails its check value is ``CodeMalformed`` or ``LicenseKeyMalformed``."""
        kind = classify(text)
        query = text.strip()
        found = LookupResult(kind, query, [], [], [], [])
        if kind == "empty":
            return found
        if kind == "activation_code":
            try:
                code = self.licensing.find_code(query)
            except CodeUnknown:
                return found
            found.codes.append(self.code_row(code))
            if code.license is not None:
                found.licenses.append(self.license_row(code.license))
        elif kind == "license_key":
            try:
                license = self.licensing.find_license(query)
            except LicenseUnknown:
                return found
            found.licenses.append(self.license_row(license))
            if license.activation_code is not None:
                found.codes.append(self.code_row(license.activation_code))
        elif kind == "public_id":
            compact = query.upper().translate(_COMPACT)
            public_id = f"{compact[:3]}-{compact[3:7]}-{compact[7:]}"
            by_id = self.session.scalar(select(License).where(License.public_id == public_id))
            if by_id is not None:
                found.licenses.append(self.license_row(by_id))
                if by_id.activation_code is not None:
                    found.codes.append(self.code_row(by_id.activation_code))
        elif kind == "email":
            email = normalize_email(query)
            account = self.session.scalar(select(Account).where(Account.email == email))
            if account is not None:
                found.accounts.append(AccountRow(account, self._account_codes(account)))
            for order in self.session.scalars(
                select(Order)
                .where(Order.customer_email == email)
                .order_by(Order.purchased_at.desc())
                .limit(LOOKUP_LIMIT)
            ):
                found.orders.append(self.order_row(order))
        else:
            for order in self.session.scalars(
                select(Order)
                .where(Order.number_key == order_number_key(query))
                .order_by(Order.purchased_at.desc())
                .limit(LOOKUP_LIMIT)
            ):
                found.orders.append(self.order_row(order))
        return found

    def code_row(self, code: ActivationCode) -> CodeRow:
        account = self.session.get(Account, code.account_id) if code.account_id else None
        order = self.session.get(Order, code.order_id) if code.order_id else None
        return CodeRow(
            id=code.id,
            masked=formats.mask_code(self.licensing.reveal_code(code)),
            plan=code.plan.name,
            state=code_state(code, self.now),
            origin=code.origin,
            license_public_id=code.license.public_id if code.license else None,
            account_email=account.email if account else None,
            order_number=order.number if order else None,
        )

    def license_row(self, license: License) -> LicenseRow:
        seats = self._seats(license)
        return LicenseRow(
            id=license.id,
            public_id=license.public_id,
            plan=license.plan.name,
            status=license_status(license, self.now),
            expires_at=license.expires_at,
            devices_used=sum(seat.released_at is None for seat in seats),
            devices_max=license.plan.devices_max,
            code=self.code_row(license.activation_code) if license.activation_code else None,
        )

    def order_row(self, order: Order) -> OrderRow:
        account = self.session.get(Account, order.account_id) if order.account_id else None
        return OrderRow(order, account.email if account else None, self._order_codes(order))

    def _order_codes(self, order: Order) -> list[CodeRow]:
        return [
            self.code_row(code)
            for code in self.session.scalars(
                select(ActivationCode)
                .where(ActivationCode.order_id == order.id)
                .order_by(ActivationCode.id)
            )
        ]

    def _account_codes(self, account: Account) -> list[CodeRow]:
        return [
            self.code_row(code)
            for code in self.session.scalars(
                select(ActivationCode)
                .where(ActivationCode.account_id == account.id)
                .order_by(ActivationCode.id)
                .limit(LOOKUP_LIMIT)
            )
        ]

    def _seats(self, license: License) -> list[Activation]:
        return list(
            self.session.scalars(
                select(Activation)
                .where(Activation.license_id == license.id)
                .order_by(Activation.activated_at, Activation.id)
            )
        )

    # details ---------------------------------------------------------------------------

    def license_by_public_id(self, public_id: str) -> License:
        license = self.session.scalar(
            select(License).where(License.public_id == public_id.strip().upper())
        )
        if license is None:
            raise NotFound("there is no license with this public ID")
        return license

    def license_by_id(self, license_id: int) -> License:
        license = self.session.get(License, license_id)
        if license is None:
            raise NotFound("there is no such license")
        return license

    def license_detail(self, public_id: str) -> LicenseDetail:
        license = self.license_by_public_id(public_id)
        seats = [
            Seat(seat, seat.device.name, seat.device.platform, seat.device.fingerprint[:12])
            for seat in self._seats(license)
        ]
        return LicenseDetail(license, self.license_row(license), seats)

    def code(self, code_id: int, *, lock: bool = False) -> ActivationCode:
        query = select(ActivationCode).where(ActivationCode.id == code_id)
        code = self.session.scalar(query.with_for_update() if lock else query)
        if code is None:
            raise NotFound("there is no such activation code")
        return code

    def code_detail(self, code_id: int) -> CodeDetail:
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
            row=self.code_row(code),
            license=self.license_row(code.license) if code.license else None,
            order=self.session.get(Order, code.order_id) if code.order_id else None,
            account=self.session.get(Account, code.account_id) if code.account_id else None,
            blocked_reason=code.blocked_reason,
            replaced_by=int(replaced.details["replacement_id"]) if replaced else None,
        )

    # sending a code --------------------------------------------------------------------

    def destinations(self, request: SupportRequest, code: ActivationCode) -> list[Destination]:
        """Where this code may go: the emails of record, by role, each address once.

        The requester's own address is one of them only when the request proves they
        hold the license (a screenshot whose key was read and verified, or confirmed by
        an agent) or when it is also the account's or the order's address: a request
        alone must never be enough to get someone else's code."""
        found = []
        if code.account_id is not None:
            account = self.session.get_one(Account, code.account_id)
            found.append(Destination("account", account.email, account.language, False))
        if code.order_id is not None:
            order = self.session.get_one(Order, code.order_id)
            found.append(Destination("order", order.customer_email, order.language, False))
        of_record = {destination.email for destination in found}
        shown = code.license is not None and code.license.id in self.unit.desk.verified_license_ids(
            request
        )
        if shown or request.customer_email in of_record:
            requester = Destination("request", request.customer_email, request.language, shown)
            found = [requester, *(d for d in found if d.email != requester.email)]
        unique: dict[str, Destination] = {}
        for destination in found:
            unique.setdefault(destination.email, destination)
        return list(unique.values())

    def send_code(
        self,
        agent: Account,
        request: SupportRequest,
        code_id: int,
        *,
        destination: str,
        reason: str,
        then: str,
        message: str = "",
    ) -> Destination:
        """Send the code, in clear, to one email of record, with the templated reply in
        the request's language; tell its owner when the code went somewhere else; move
        the request on. Audited as a disclosure (``support.code_sent``)."""
        reason = reason.strip()
        errors = {}
        if not reason:
            errors["reason"] = "required"
        if then not in AFTER_SEND:
            errors["then"] = "status_invalid"
        code = self.code(code_id, lock=True)
        chosen = next((d for d in self.destinations(request, code) if d.role == destination), None)
        if chosen is None:
            raise DestinationNotOfRecord()
        if errors:
            raise FormInvalid(errors)
        if code.state == CodeState.BLOCKED:
            raise FormInvalid({"code": "code_is_blocked"})
        clear = formats.format_code(self.licensing.reveal_code(code))
        license = code.license
        self._mail(
            chosen.email,
            chosen.language,
            "support_code",
            name=request.customer_name if chosen.role == "request" else "",
            number=request.number,
            plan=code.plan.name,
            public_id=license.public_id if license else None,
            code=clear,
            message=message.strip(),
        )
        for owner_email, owner_language in self._owners(code):
            if owner_email != chosen.email:
                self._mail(
                    owner_email,
                    owner_language,
                    "support_notice",
                    kind="code_sent",
                    number=request.number,
                    plan=code.plan.name,
                    public_id=license.public_id if license else None,
                    destination=mask_email(chosen.email),
                    count=0,
                )
        masked = formats.mask_code(formats.normalize_code(clear))
        self._audit(
            agent,
            request,
            "support.code_sent",
            "activation_code",
            code.id,
            reason,
            to=chosen.email,
            destination=chosen.role,
            code=masked,
            proven=chosen.proven,
        )
        record_action(
            request,
            agent,
            self.now,
            "support.code_sent",
            code=masked,
            code_id=code.id,
            to=chosen.email,
            destination=chosen.role,
            reason=reason,
        )
        desk = self.unit.desk
        desk.set_status(agent, request, then)
        self.session.flush()
        return chosen

    # the customer's account (attaching to it is support/attaching.py) -----------------

    def customer_account(self, request: SupportRequest) -> Account | None:
        """The request's account, or the account with the request's email."""
        if request.account_id is not None:
            return self.session.get(Account, request.account_id)
        return self.session.scalar(
            select(Account).where(Account.email == normalize_email(request.customer_email))
        )

    # seats -----------------------------------------------------------------------------

    def release(
        self,
        agent: Account,
        request: SupportRequest,
        license_id: int,
        *,
        activation_id: int | None,
        reason: str,
    ) -> int:
        """Free one seat of the license, or every seat (``activation_id`` None); the owner
        is told. Returns how many seats were freed."""
        reason = self._reason(reason)
        license = self.session.scalar(
            select(License).where(License.id == license_id).with_for_update()
        )
        if license is None:
            raise NotFound("there is no such license")
        query = select(Activation).where(
            Activation.license_id == license.id, Activation.released_at.is_(None)
        )
        if activation_id is not None:
            query = query.where(Activation.id == activation_id)
        seats = self.session.scalars(query.with_for_update()).all()
        for seat in seats:
            seat.released_at = self.now
            seat.released_by = f"agent:{agent.id}"
        if seats:
            fields = {"public_id": license.public_id, "seats_released": len(seats)}
            self._audit(
                agent, request, "support.seats_released", "license", license.id, reason, **fields
            )
            record_action(
                request, agent, self.now, "support.seats_released", reason=reason, **fields
            )
            code = license.activation_code
            for owner_email, owner_language in self._owners(code, request):
                self._mail(
                    owner_email,
                    owner_language,
                    "support_notice",
                    kind="seats_released",
                    number=request.number,
                    plan=license.plan.name,
                    public_id=license.public_id,
                    destination="",
                    count=len(seats),
                )
        self.session.flush()
        return len(seats)

    # block and replace -----------------------------------------------------------------

    def block_and_replace(
        self, agent: Account, request: SupportRequest, code_id: int, *, reason: str
    ) -> ActivationCode:
        """Block a code (and its license) and issue a new code of the same plan, joined to
        the same account and order; the new one is sent with ``send_code``."""
        reason = self._reason(reason)
        code = self.code(code_id, lock=True)
        if code.state == CodeState.BLOCKED:
            raise FormInvalid({"code": "code_is_blocked"})
        old_masked = formats.mask_code(self.licensing.reveal_code(code))
        self.licensing.block_code(
            self.licensing.reveal_code(code), reason=reason, actor=f"agent:{agent.id}"
        )
        replacement, canonical = self.licensing.create_code(code.plan, CodeOrigin.MANUAL)
        replacement.order_id = code.order_id
        if code.account_id is not None:
            replacement.account_id = code.account_id
            replacement.linked_at = self.now
        new_masked = formats.mask_code(canonical)
        fields = {
            "code": old_masked,
            "replacement": new_masked,
            "replacement_id": replacement.id,
        }
        self._audit(
            agent, request, "support.code_replaced", "activation_code", code.id, reason, **fields
        )
        record_action(request, agent, self.now, "support.code_replaced", reason=reason, **fields)
        for owner_email, owner_language in self._owners(code, request):
            self._mail(
                owner_email,
                owner_language,
                "support_notice",
                kind="code_replaced",
                number=request.number,
                plan=code.plan.name,
                public_id=code.license.public_id if code.license else None,
                destination="",
                count=0,
            )
        self.session.flush()
        return replacement

    # helpers -------------------------------------------------------------------------

    def _reason(self, reason: str) -> str:
        reason = reason.strip()
        if not reason:
            raise FormInvalid({"reason": "required"})
        return reason

    def _owners(
        self, code: ActivationCode | None, request: SupportRequest | None = None
    ) -> list[tuple[str, str]]:
        """(email, language) of whoever holds the code of record: its account, and the
        order that delivered it; with none of record, the requester."""
        owners: list[tuple[str, str]] = []
        if code is not None and code.account_id is not None:
            account = self.session.get_one(Account, code.account_id)
            owners.append((account.email, account.language))
        if code is not None and code.order_id is not None:
            order = self.session.get_one(Order, code.order_id)
            if order.customer_email not in {email for email, _ in owners}:
                owners.append((order.customer_email, order.language))
        if not owners and request is not None:
            owners.append((request.customer_email, request.language))
        return owners

    def _when(self) -> str:
        return mail_time(self.now)

    def _mail(self, to: str, language: str, template: str, **context: Any) -> None:
        self.send_mail(to, language, template, when=self._when(), **context)

    def _audit(
        self,
        agent: Account,
        request: SupportRequest,
        action: str,
        subject_type: str,
        subject_id: int,
        reason: str,
        **fields: Any,
    ) -> None:
        audit(
            self.session,
            self.now,
            actor=f"agent:{agent.id}",
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            reason=reason,
            request=request.number,
            **fields,
        )
