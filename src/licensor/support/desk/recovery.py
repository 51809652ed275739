"""What an agent does to codes and licenses from a support request: send a code to an
email of record, release seats, block a code and issue its replacement. Attaching an order
or a code to the customer's account (F7) is ``attaching.py``.

Revealing a code happens only by sending it, to an address of record chosen by its role
(the requester, the account holding the code, the order that delivered it), never a typed
address. Every action is audited (who, what, when, why), written on the request's thread,
and its owner told by mail. Releasing and blocking are the licensing rules
(``Licensing.release_seats``, ``Codes.block``, ``Codes.replace``); this adds the desk's
record of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from licensor.accounts.service import mask_email
from licensor.clock import mail_time
from licensor.errors import DestinationNotOfRecord, FormInvalid
from licensor.licensing import formats
from licensor.models import (
    Account,
    ActivationCode,
    CodeState,
    Order,
    RequestStatus,
    SupportRequest,
)
from licensor.support.desk.thread import audit_action, record_action, required_reason
from licensor.support.updates import shown_address, tell_requester
from licensor.units import Service

AFTER_SEND = (RequestStatus.WAITING, RequestStatus.SOLVED)


@dataclass(frozen=True)
class Destination:
    """An email of record a code may go to, named by its role."""

    role: str  # "request", "account", "order"
    email: str
    language: str
    proven: bool  # the requester's screenshot shows this code's license, verified


class Recovery(Service):
    """The desk's actions on codes and licenses, bound to one unit of work."""

    # sending a code --------------------------------------------------------------------

    def destinations(self, request: SupportRequest, code: ActivationCode) -> list[Destination]:
        """Where this code may go: the emails of record, by role, each address once.

        The requester's own address is one of them only when the request proves they
        hold the license (a screenshot whose key was read and verified, or confirmed by
        an agent) or when it is also the account's or the order's address: a request
        alone must never be enough to get someone else's code."""
        found = [
            Destination(role, email, language, False)
            for role, email, language in self._of_record(code)
        ]
        of_record = {destination.email for destination in found}
        shown = code.license is not None and code.license.id in self.unit.desk.verified_license_ids(
            request
        )
        if (
            shown
            and code.license is not None
            and self.unit.license_sharing.ever_shared(code.license.id)
        ):
            # Shared with family (accounts/sharing.py): their devices showed the key too,
            # and the code stays its owner's, so the key no longer proves the requester's.
            shown = False
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
        code = self.unit.desk_lookup.code(code_id, lock=True)
        chosen = next((d for d in self.destinations(request, code) if d.role == destination), None)
        if chosen is None:
            raise DestinationNotOfRecord()
        if errors:
            raise FormInvalid(errors)
        if code.state == CodeState.BLOCKED:
            raise FormInvalid({"code": "code_is_blocked"})
        clear = formats.format_code(self.unit.codes.reveal_code(code))
        license = code.license
        public_id = license.public_id if license else None
        self._mail(
            chosen.email,
            chosen.language,
            "support_code",
            name=request.customer_name if chosen.role == "request" else "",
            number=request.number,
            plan=code.plan.name,
            public_id=public_id,
            code=clear,
            message=message.strip(),
        )
        owners = self._owners(code)
        for owner_email, owner_language in owners:
            if owner_email != chosen.email:
                self._notice(
                    owner_email,
                    owner_language,
                    request,
                    "code_sent",
                    plan=code.plan.name,
                    public_id=public_id,
                    destination=mask_email(chosen.email),
                )
        tell_requester(
            self.unit,
            request,
            "code_sent",
            told={chosen.email, *(email for email, _ in owners)},
            destination=shown_address(request, chosen.email),
        )
        masked = formats.mask_code(formats.normalize_code(clear))
        fields = {"to": chosen.email, "destination": chosen.role}
        audit_action(
            self.unit,
            f"agent:{agent.id}",
            request,
            "support.code_sent",
            "activation_code",
            code.id,
            reason,
            **fields,
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
            **fields,
            reason=reason,
        )
        self.unit.desk.set_status(agent, request, then)
        self.session.flush()
        return chosen

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
        reason = required_reason(reason)
        license = self.unit.desk_lookup.license(license_id, lock=True)
        freed = self.unit.licensing.release_seats(
            license, activation_id=activation_id, released_by=f"agent:{agent.id}"
        )
        if freed:
            fields = {"public_id": license.public_id, "seats_released": freed}
            audit_action(
                self.unit,
                f"agent:{agent.id}",
                request,
                "support.seats_released",
                "license",
                license.id,
                reason,
                **fields,
            )
            record_action(
                request, agent, self.now, "support.seats_released", reason=reason, **fields
            )
            owners = self._owners(license.activation_code, request)
            for owner_email, owner_language in owners:
                self._notice(
                    owner_email,
                    owner_language,
                    request,
                    "seats_released",
                    plan=license.plan.name,
                    public_id=license.public_id,
                    count=freed,
                )
            told = {email for email, _ in owners}
            tell_requester(
                self.unit,
                request,
                "seats_released",
                told=told,
                count=freed,
                public_id=license.public_id,
            )
        self.session.flush()
        return freed

    # block and replace -----------------------------------------------------------------

    def block_and_replace(
        self, agent: Account, request: SupportRequest, code_id: int, *, reason: str
    ) -> ActivationCode:
        """Block a code and issue a new code of the same plan in its place, joined to the
        same account and order, and to the same license where it has one (its devices
        keep their seats: ``Codes.replace``, as an owner's own replacement in My Account);
        the new one is sent with ``send_code``."""
        reason = required_reason(reason)
        code = self.unit.desk_lookup.code(code_id, lock=True)
        if code.state == CodeState.BLOCKED:
            raise FormInvalid({"code": "code_is_blocked"})
        codes = self.unit.codes
        old_masked = formats.mask_code(codes.reveal_code(code))
        license = code.license
        replacement, canonical = codes.replace(code, reason=reason, actor=f"agent:{agent.id}")
        fields = {
            "code": old_masked,
            "replacement": formats.mask_code(canonical),
            "replacement_id": replacement.id,
        }
        audit_action(
            self.unit,
            f"agent:{agent.id}",
            request,
            "support.code_replaced",
            "activation_code",
            code.id,
            reason,
            **fields,
        )
        record_action(request, agent, self.now, "support.code_replaced", reason=reason, **fields)
        owners = self._owners(code, request)
        for owner_email, owner_language in owners:
            self._notice(
                owner_email,
                owner_language,
                request,
                "code_replaced",
                plan=code.plan.name,
                public_id=license.public_id if license else None,
            )
        tell_requester(self.unit, request, "code_replaced", told={email for email, _ in owners})
        self.session.flush()
        return replacement

    # helpers -------------------------------------------------------------------------

    def _of_record(self, code: ActivationCode | None) -> list[tuple[str, str, str]]:
        """(role, email, language) of whoever holds the code of record: the account it
        is in, and the order that delivered it."""
        found = []
        if code is not None and code.account_id is not None:
            account = self.session.get_one(Account, code.account_id)
            found.append(("account", account.email, account.language))
        if code is not None and code.order_id is not None:
            order = self.session.get_one(Order, code.order_id)
            found.append(("order", order.customer_email, order.language))
        return found

    def _owners(
        self, code: ActivationCode | None, request: SupportRequest | None = None
    ) -> list[tuple[str, str]]:
        """(email, language) of whoever holds the code of record, each address once; with
        none of record, the requester."""
        owners: dict[str, str] = {}
        for _role, email, language in self._of_record(code):
            owners.setdefault(email, language)
        if not owners and request is not None:
            owners[request.customer_email] = request.language
        return list(owners.items())

    def _mail(self, to: str, language: str, template: str, **context: Any) -> None:
        self.send_mail(to, language, template, when=mail_time(self.now), **context)

    def _notice(
        self,
        to: str,
        language: str,
        request: SupportRequest,
        kind: str,
        *,
        plan: str,
        public_id: str | None,
        destination: str = "",
        count: int = 0,
    ) -> None:
        """Tell a holder of record what an agent did with their code or license."""
        self._mail(
            to,
            language,
            "support_notice",
            kind=kind,
            number=request.number,
            plan=plan,
            public_id=public_id,
            destination=destination,
            count=count,
        )
