"""What staff do to a code or a license outside a support request, each with a reason: block
and unblock a code, extend a license's term, release its seats, set its own device limit,
grant it one more transfer. The vendor console's
Codes and licenses pages and the ``licensor codes``/``licensor licenses`` commands both
call this (``unit.service(StaffActions)``), so the rules and the audit rows are the same.

The rules are the licensing ones (``Codes.block``/``unblock``, ``Licenses.extend_term``,
``Licensing.release_seats``); this locks the rows in the usual order (code, then license),
audits what those do not, and tells the license's owner where the other flows do: freed
seats (as the desk's release and the mailed release link do) and a longer term. A block
is not mailed, as ``licensor codes block`` never was: the holder of a leaked or
grey-market code is not the one to warn.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, or_, select

from licensor.clock import mail_date, mail_time
from licensor.errors import FormInvalid, NotFound
from licensor.licensing.plans import MAX_DEVICES
from licensor.licensing.seats import owner_of_record
from licensor.licensing.transfers import transfers_left
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    AuditEvent,
    Device,
    License,
    Order,
)
from licensor.units import Service

HISTORY_LIMIT = 100  # audit rows on a page: the newest; the audit log has the rest
# Support's grants beyond a plan's transfer cap: a guard against a form posted in a loop.
MAX_EXTRA_TRANSFERS = 1000


class StaffActions(Service):
    """Staff's actions on codes and licenses, bound to one unit of work."""

    def block_code(self, code_id: int, *, reason: str, actor: str) -> ActivationCode:
        """Block the code (and its license) with the reason."""
        if not reason.strip():
            raise FormInvalid({"reason": "required"})
        return self.unit.codes.block(self._code(code_id), reason=reason, actor=actor)

    def unblock_code(self, code_id: int, *, reason: str, actor: str) -> ActivationCode:
        """Lift the code's block (``Codes.unblock`` says when it is refused)."""
        if not reason.strip():
            raise FormInvalid({"reason": "required"})
        return self.unit.codes.unblock(self._code(code_id), reason=reason, actor=actor)

    def extend_term(
        self,
        public_id: str,
        *,
        days: int | None = None,
        until: date | None = None,
        reason: str,
        actor: str,
    ) -> License:
        """Extend the license's term (``Licenses.extend_term``); its owner is told."""
        license = self._license(public_id)
        self.unit.licenses.extend_term(license, days=days, until=until, reason=reason, actor=actor)
        self._tell_owner(license, "term_extended", expires_on=mail_date(license.expires_at))
        return license

    def release_seats(
        self,
        public_id: str,
        *,
        activation_id: int | None = None,
        fingerprint: str | None = None,
        reason: str,
        actor: str,
    ) -> int:
        """Free one live seat (by its id, or its device's fingerprint) or, with neither,
        every seat; the owner is told. How many were freed (0: none was live)."""
        reason = reason.strip()
        if not reason:
            raise FormInvalid({"reason": "required"})
        license = self._license(public_id)
        if fingerprint is not None:
            activation_id = self.session.scalar(
                select(Activation.id)
                .join(Device, Device.id == Activation.device_id)
                .where(
                    Activation.license_id == license.id,
                    Activation.released_at.is_(None),
                    Device.fingerprint == fingerprint.strip(),
                )
            )
            if activation_id is None:
                raise NotFound("no device with this fingerprint holds a seat of this license")
        # released_by is short (a seat's column): "agent:N" reads as support on the
        # owner's history, which is who acted; the audit row names the actor in full.
        released_by = actor.replace("account:", "agent:")[:20]
        freed = self.unit.licensing.release_seats(
            license, activation_id=activation_id, released_by=released_by
        )
        if freed:
            self.unit.audit(
                "licensing.seats_released",
                actor=actor,
                subject_type="license",
                subject_id=license.id,
                reason=reason,
                public_id=license.public_id,
                seats_released=freed,
            )
            self._tell_owner(license, "seats_released", count=freed)
        return freed

    def set_devices(
        self, public_id: str, devices: int | None, *, reason: str, actor: str
    ) -> License:
        """Give the license its own device limit (None: its plan's again), audited. A limit
        below the seats in use frees none: the devices keep them, and no new device takes
        one until enough are released."""
        reason = reason.strip()
        if not reason:
            raise FormInvalid({"reason": "required"})
        if devices is not None and not 1 <= devices <= MAX_DEVICES:
            raise FormInvalid({"devices_max": "devices_range"})
        license = self._license(public_id)
        previous = license.devices_max
        if previous != devices:
            license.devices_max = devices
            self.session.flush()
            self.unit.audit(
                "licensing.devices_set",
                actor=actor,
                subject_type="license",
                subject_id=license.id,
                reason=reason,
                public_id=license.public_id,
                previous_devices_max=previous,
                devices_max=devices,
                plan_devices_max=license.plan.devices_max,
            )
        return license

    def grant_transfer(self, public_id: str, *, reason: str, actor: str) -> License:
        """One more transfer for the license, beyond its plan's cap (support's grant),
        audited."""
        reason = reason.strip()
        if not reason:
            raise FormInvalid({"reason": "required"})
        license = self._license(public_id)
        if license.extra_transfers >= MAX_EXTRA_TRANSFERS:
            raise FormInvalid({"reason": "transfers_range"})
        license.extra_transfers += 1
        self.session.flush()
        self.unit.audit(
            "licensing.transfer_granted",
            actor=actor,
            subject_type="license",
            subject_id=license.id,
            reason=reason,
            public_id=license.public_id,
            extra_transfers=license.extra_transfers,
        )
        return license

    def transfers_left(self, license: License) -> int | None:
        """The transfers the license may still make in its plan's period (None: no cap)."""
        return transfers_left(self.session, license, self.now)

    # reading ---------------------------------------------------------------------------

    def history(self, *, code: ActivationCode | None, license: License | None) -> list[AuditEvent]:
        """The audit rows about a code and its license, newest first: the license's own,
        and those of every code it ever had (each replacement names the code it blocked).
        At most ``HISTORY_LIMIT``; each side read by the audit log's subject index."""
        code_ids = {code.id} if code is not None else set()
        about = []
        if license is not None:
            about.append(
                and_(AuditEvent.subject_type == "license", AuditEvent.subject_id == license.id)
            )
            replaced = self.session.scalars(
                select(AuditEvent.details).where(
                    AuditEvent.subject_type == "license",
                    AuditEvent.subject_id == license.id,
                    AuditEvent.action == "licensing.code_replaced",
                )
            )
            code_ids |= {int(details["code_id"]) for details in replaced if "code_id" in details}
        if code_ids:
            about.append(
                and_(
                    AuditEvent.subject_type == "activation_code",
                    AuditEvent.subject_id.in_(code_ids),
                )
            )
        if not about:
            return []
        return list(
            self.session.scalars(
                select(AuditEvent)
                .where(or_(*about))
                .order_by(AuditEvent.id.desc())
                .limit(HISTORY_LIMIT)
            )
        )

    def holder(self, license: License) -> Account | None:
        """The account that holds the license (its code's, or its subscription's)."""
        account_id, _order_id = owner_of_record(self.session, license)
        return self.session.get(Account, account_id) if account_id is not None else None

    # rows ------------------------------------------------------------------------------

    def _code(self, code_id: int) -> ActivationCode:
        """The code locked, then its license (the lock order of activation)."""
        code = self.unit.codes.get_code(code_id, lock=True)
        if code.license is not None:
            self.session.refresh(code.license, with_for_update=True)
        return code

    def _license(self, public_id: str) -> License:
        license = self.unit.licenses.by_public_id(public_id, lock=True)
        return license

    def _tell_owner(self, license: License, kind: str, **context: object) -> None:
        """Mail the license's holders of record (its account, the order that delivered its
        code), each address once."""
        account_id, order_id = owner_of_record(self.session, license)
        told: dict[str, str] = {}
        if account_id is not None:
            account = self.session.get_one(Account, account_id)
            told.setdefault(account.email, account.language)
        if order_id is not None:
            order = self.session.get_one(Order, order_id)
            told.setdefault(order.customer_email, order.language)
        for email, language in told.items():
            self.send_mail(
                email,
                language,
                "license_notice",
                kind=kind,
                plan=license.plan.name,
                public_id=license.public_id,
                when=mail_time(self.now),
                **context,
            )
