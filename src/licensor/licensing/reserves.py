"""Reserve codes (issue 16, item 6): a second code entered while a license is active waits
in reserve and extends the term when the current one ends (docs/reserve-codes.md).

The term is extended at once, when the code is entered: ``licenses.expires_at`` moves by
the code's plan term, and the code keeps ``reserve_starts_at`` (the end the term had) so
pages can say "the current term ends D1; the reserve code runs from then to D2". Nothing
waits for a job to run at D1: validation, license files and expiry reminders read the one
end that exists. Before D1 the code can be withdrawn: the term goes back and the code is
an unused code again. From D1 on it is spent on this license for good.

A code in reserve stays ``issued`` with ``reserved_for_id`` set: it has no license of its
own (``Codes._locked`` relies on an issued code having none), and activation refuses it
(``code_reserved``), so one term is never given twice. The code is checked as activation
checks it (malformed, unknown, blocked, unsold), under the same lock order: code, then
license.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from licensor.clock import isoformat, mail_date
from licensor.errors import (
    CodeBlocked,
    CodeInUse,
    CodeReserved,
    LicenseExpired,
    LicenseNotOnDevice,
    ReserveExists,
    ReserveNotForSubscription,
    ReservePlanMismatch,
    ReserveStarted,
    ReserveUnknown,
)
from licensor.licensing import formats
from licensor.licensing.licenses import license_status
from licensor.licensing.seats import owner_of_record
from licensor.models import (
    Account,
    ActivationCode,
    AuditEvent,
    CodeState,
    License,
    LicenseStatus,
    Order,
    Plan,
)
from licensor.units import Service

ADDED = "license.reserve_added"
WITHDRAWN = "license.reserve_withdrawn"


@dataclass(frozen=True)
class Reserve:
    """A license's reserve code: when it starts (the term's end when it was entered) and
    the license's end with it; ``started``: past its start, no longer withdrawable."""

    code_id: int
    plan: str
    reserved_at: datetime
    starts_at: datetime
    expires_at: datetime
    started: bool


def reserve_of(code: ActivationCode, license: License, now: datetime) -> Reserve:
    """The reserve a code in reserve for ``license`` makes."""
    assert code.reserve_starts_at is not None
    assert code.reserved_at is not None
    return Reserve(
        code_id=code.id,
        plan=license.plan.code,
        reserved_at=code.reserved_at,
        starts_at=code.reserve_starts_at,
        expires_at=license.expires_at,
        started=code.reserve_starts_at <= now,
    )


class Reserves(Service):
    """Reserve codes in one unit of work (``unit.reserves``)."""

    def reserve_code(self, license: License) -> ActivationCode | None:
        """The code in reserve for the license, with its plan; None if it has none. Of
        several (one started, spent for good, and the next year's), the latest."""
        return self.session.scalar(
            select(ActivationCode)
            .where(ActivationCode.reserved_for_id == license.id)
            .options(joinedload(ActivationCode.plan, innerjoin=True))
            .order_by(ActivationCode.reserve_starts_at.desc())
            .limit(1)
        )

    def reserve(self, license: License) -> Reserve | None:
        """The license's reserve, if it has one."""
        code = self.reserve_code(license)
        return reserve_of(code, license, self.now) if code is not None else None

    def starts_at(self, license: License) -> datetime | None:
        """When the license's reserve starts (answers and license files carry it)."""
        return self.session.scalar(
            select(func.max(ActivationCode.reserve_starts_at)).where(
                ActivationCode.reserved_for_id == license.id
            )
        )

    # from a device -------------------------------------------------------------------

    def add_from_device(
        self, key_text: str, fingerprint: str, code_text: str
    ) -> tuple[License, Reserve]:
        """The device proves it holds the license (a live seat on this fingerprint), then
        the code goes into reserve for it."""
        self._held_by_device(key_text, fingerprint)
        code = self.unit.codes.find_code(code_text, lock=True)
        license = self.unit.licenses.find_license(key_text, lock=True)
        return license, self.add(license, code, actor="device", by="device")

    def withdraw_from_device(self, key_text: str, fingerprint: str) -> License:
        """The device proves it holds the license, then its reserve is withdrawn."""
        self._held_by_device(key_text, fingerprint)
        license = self.unit.licenses.find_license(key_text, lock=True)
        code = self.withdraw(license, actor="device")
        self._tell_owner(
            license,
            "reserve_withdrawn",
            code=formats.mask_code(self.unit.codes.reveal_code(code)),
            ends=mail_date(license.expires_at),
        )
        return license

    def _held_by_device(self, key_text: str, fingerprint: str) -> None:
        # Asked before the code is looked at: without a seat, nothing is said of any code.
        license = self.unit.licenses.find_license(key_text)
        if self.unit.licensing.device_seat(license, fingerprint) is None:
            raise LicenseNotOnDevice()

    # the rules -----------------------------------------------------------------------

    def add(
        self,
        license: License,
        code: ActivationCode,
        *,
        actor: str,
        by: str,
        account_id: int | None = None,
    ) -> Reserve:
        """Put a code (locked: ``find_code(lock=True)``) in reserve for a license (locked
        after it) and extend the license's term by the code's plan term at once. Entered
        by the owner of ``account_id``, a code in no account joins theirs."""
        self._check_code(code)
        self._check_license(license)
        if code.plan_id != license.plan_id:
            raise ReservePlanMismatch()
        pending = self.reserve_code(license)
        if pending is not None and not reserve_of(pending, license, self.now).started:
            raise ReserveExists()  # one that started is the term now: another may wait
        days = code.plan.term_days
        code.reserved_for_id = license.id
        code.reserved_at = self.now
        if account_id is not None and code.account_id is None:
            code.account_id = account_id
            code.linked_at = self.now
        code.reserve_starts_at = license.expires_at
        license.expires_at = license.expires_at + timedelta(days=days)
        self.session.flush()
        self.unit.audit(
            ADDED,
            actor=actor,
            subject_type="license",
            subject_id=license.id,
            public_id=license.public_id,
            code_id=code.id,
            days=days,
            by=by,
            starts_at=isoformat(code.reserve_starts_at),
            expires_at=isoformat(license.expires_at),
        )
        if by == "device":
            assert code.reserve_starts_at is not None
            self._tell_owner(
                license,
                "reserve_added",
                code=formats.mask_code(self.unit.codes.reveal_code(code)),
                starts=mail_date(code.reserve_starts_at),
                ends=mail_date(license.expires_at),
            )
        self.unit.webhooks.emit(
            "license.reserve_added",
            {
                "public_id": license.public_id,
                "plan": license.plan.code,
                "starts_at": isoformat(code.reserve_starts_at),
                "expires_at": isoformat(license.expires_at),
            },
        )
        return reserve_of(code, license, self.now)

    def _tell_owner(self, license: License, template: str, **fields: Any) -> None:
        """Mail the owner of record: a reserve added or withdrawn from a device is a
        change to their license's term that they did not make on a page of ours."""
        account_id, order_id = owner_of_record(self.session, license)
        account = self.session.get(Account, account_id) if account_id is not None else None
        order = self.session.get(Order, order_id) if order_id is not None else None
        if account is not None:
            to, language = account.email, account.language
        elif order is not None:
            to, language = order.customer_email, order.language
        else:
            return  # a printed card in no account: nobody to tell
        self.unit.send_mail(
            to,
            language,
            template,
            plan=license.plan.name,
            public_id=license.public_id,
            license_link=self.settings.url(f"/account/licenses/{license.public_id}"),
            **fields,
        )

    def _check_code(self, code: ActivationCode) -> None:
        """Refused as activation refuses it, and for what only a reserve asks: unused."""
        if code.state == CodeState.BLOCKED:
            raise CodeBlocked()
        if code.reserved_for_id is not None:
            raise CodeReserved()
        if code.license is not None or code.state != CodeState.ISSUED:
            raise CodeInUse()
        self.unit.codes.require_sale(code)

    def _check_license(self, license: License) -> None:
        status = license_status(license, self.now)
        if status == LicenseStatus.BLOCKED:
            raise CodeBlocked()
        if status == LicenseStatus.EXPIRED:
            raise LicenseExpired()
        if license.code_id is None:
            raise ReserveNotForSubscription()

    def withdraw(self, license: License, *, actor: str) -> ActivationCode:
        """Take a reserve that has not started back (license locked): the term loses what
        the code added, and the code is an unused code again."""
        code = self.reserve_code(license)
        if code is None:
            raise ReserveUnknown()
        assert code.reserve_starts_at is not None
        if code.reserve_starts_at <= self.now:
            raise ReserveStarted()
        self._take_back(license, code, actor=actor, reason=None)
        return code

    def code_blocked(self, code: ActivationCode, *, actor: str, reason: str) -> None:
        """A code in reserve is being blocked (a refund, a leak): the term it added goes
        back if it has not started; once started, it was used and the term stays."""
        if code.reserved_for_id is None or code.reserve_starts_at is None:
            return
        if code.reserve_starts_at <= self.now:
            return
        license = self.unit.licenses.get_license(code.reserved_for_id, lock=True)
        self._take_back(license, code, actor=actor, reason=reason)

    def _take_back(
        self, license: License, code: ActivationCode, *, actor: str, reason: str | None
    ) -> None:
        days = self._days_added(code)
        starts_at = code.reserve_starts_at
        license.expires_at = license.expires_at - timedelta(days=days)
        code.reserved_for_id = None
        code.reserved_at = None
        code.reserve_starts_at = None
        self.session.flush()
        self.unit.audit(
            WITHDRAWN,
            actor=actor,
            subject_type="license",
            subject_id=license.id,
            reason=reason,
            public_id=license.public_id,
            code_id=code.id,
            days=days,
            starts_at=isoformat(starts_at),
            expires_at=isoformat(license.expires_at),
        )
        self.unit.webhooks.emit(
            "license.reserve_withdrawn",
            {"public_id": license.public_id, "expires_at": isoformat(license.expires_at)},
        )

    def _days_added(self, code: ActivationCode) -> int:
        """The days the code added when it went into reserve, as its audit row says: the
        plan's term may have been edited since, and the term must go back exactly."""
        days = self.session.scalar(
            select(AuditEvent.details["days"].as_integer())
            .where(
                AuditEvent.action == ADDED,
                AuditEvent.details["code_id"].as_integer() == code.id,
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        if days is not None:
            return int(days)
        return self.session.get_one(Plan, code.plan_id).term_days
