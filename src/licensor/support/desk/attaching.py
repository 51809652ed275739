"""Attaching an order or a code to the customer's account from a support request (F7).

My Account lists every attached code in full, so attaching is a disclosure. It happens at
the agent's click only when it moves nothing that is someone else's: the order's own
address is the account's (a confirmed one: anyone can sign up with an address); or, for a
code, its order's address is, or it has no order and the request shows its license (a
screenshot's key verified, or a key an agent confirmed: the rule ``Recovery.destinations``
applies to sending a code).

Otherwise the click only asks (``approvals.py``): the order's own address is told first,
by a mail whose link confirms (or refuses), or a second staff member approves on the
desk; then what was asked moves here, audited as ``support.order_attached`` or
``support.code_attached`` with the question's id. An order or a code already in another
account is never moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from licensor.accounts.service import mask_email, normalize_email
from licensor.clock import mail_time
from licensor.errors import (
    LicenseLinkedElsewhere,
    OrderLinkedElsewhere,
    RequestHasNoAccount,
)
from licensor.licensing.codes import CODE_WITH_LICENSE
from licensor.models import (
    Account,
    ActivationCode,
    AttachApproval,
    Order,
    SupportRequest,
)
from licensor.support.desk.approvals import Approvals, owner_actor
from licensor.support.desk.thread import audit_action, record_action, required_reason
from licensor.support.updates import tell_requester
from licensor.units import Service


@dataclass(frozen=True)
class Attached:
    """What one attach did: codes joined, already there, in another account; or, when
    ``asked`` is set, nothing yet."""

    codes_attached: int
    codes_already_there: int
    codes_elsewhere: int
    account_email: str
    asked: AttachApproval | None = None


class Attaching(Service):
    """Attach at once or ask; carry out what the order's address or a second staff
    member answered."""

    @property
    def approvals(self) -> Approvals:
        return self.unit.approvals

    # the agent's click ------------------------------------------------------------------

    def attach_order(
        self, agent: Account, request: SupportRequest, order_id: int, *, reason: str
    ) -> Attached:
        """Join an order and its codes to the customer's account, at once when the order
        is the account's own address's, else ask (``OrderLinkedElsewhere`` when it is in
        another account)."""
        reason = required_reason(reason)
        account = self._target(request)
        order = self.unit.desk_lookup.order(order_id, lock=True)
        if order.account_id is not None and order.account_id != account.id:
            raise OrderLinkedElsewhere()
        if not _own_address(order.customer_email, account):
            asked = self.approvals.ask(
                agent, request, account, order=order, code=None, reason=reason
            )
            return Attached(0, 0, 0, account.email, asked=asked)
        return self._order_now(request, order, account, f"agent:{agent.id}", agent, reason)

    def attach_code(
        self, agent: Account, request: SupportRequest, code_id: int, *, reason: str
    ) -> Attached:
        """Join one code (and its license) to the customer's account, at once when it is
        the account's own, or nobody's and shown by the request, else ask
        (``LicenseLinkedElsewhere`` when it is in another account)."""
        reason = required_reason(reason)
        account = self._target(request)
        code = self.unit.desk_lookup.code(code_id, lock=True)
        if code.account_id is not None and code.account_id != account.id:
            raise LicenseLinkedElsewhere()
        lookup = self.unit.desk_lookup
        order = lookup.order(code.order_id) if code.order_id is not None else None
        if code.account_id == account.id:
            at_once = True
        elif order is not None:
            at_once = _own_address(order.customer_email, account)
        else:
            at_once = (
                code.license is not None
                and code.license.id in self.unit.desk.verified_license_ids(request)
            )
        if not at_once:
            asked = self.approvals.ask(
                agent, request, account, order=order, code=code, reason=reason
            )
            return Attached(0, 0, 0, account.email, asked=asked)
        return self._code_now(request, code, account, f"agent:{agent.id}", agent, reason)

    # the answers ----------------------------------------------------------------------

    def approve(
        self, staff: Account, request: SupportRequest, approval_id: int, *, reason: str
    ) -> Attached:
        """A second staff member approves; the order's address, asked first, is told
        what moved."""
        approval = self.approvals.approve(staff, request, approval_id, reason=reason)
        done = self._carry_out(approval, f"agent:{staff.id}", staff, reason)
        self._tell_order(approval, done)
        self.session.flush()
        return done

    def _tell_order(self, approval: AttachApproval, done: Attached) -> None:
        """One mail to the order's own address, asked first, saying what moved (once for
        the whole order, in place of one per code)."""
        order, code = self.approvals.subject(approval)
        if order is None or not done.codes_attached:
            return
        self.send_mail(
            order.customer_email,
            order.language,
            "support_notice",
            kind="code_attached",
            number=approval.request.number,
            plan=self.approvals.plan(order, code),
            public_id=None,
            order_number=order.number,
            destination=mask_email(done.account_email),
            count=done.codes_attached,
            when=mail_time(self.now),
        )

    def confirm(self, token: str, address: str) -> Attached | None:
        """The order's address confirms through its link; None when the link is unknown,
        used or expired."""
        approval = self.approvals.answer(token, confirmed=True, address=address)
        if approval is None:
            return None
        done = self._carry_out(approval, owner_actor(approval), None, "confirmed by the owner")
        self._tell_order(approval, done)
        self.session.flush()
        return done

    def _carry_out(
        self, approval: AttachApproval, actor: str, author: Account | None, reason: str
    ) -> Attached:
        account = self.session.get_one(Account, approval.account_id)
        request = approval.request
        lookup = self.unit.desk_lookup
        if approval.code_id is not None:
            code = lookup.code(approval.code_id, lock=True)
            return self._code_now(
                request, code, account, actor, author, reason, approval=approval.id
            )
        order = lookup.order(approval.order_id or 0, lock=True)
        return self._order_now(request, order, account, actor, author, reason, approval=approval.id)

    # what moves -----------------------------------------------------------------------

    def _order_now(
        self,
        request: SupportRequest,
        order: Order,
        account: Account,
        actor: str,
        author: Account | None,
        reason: str,
        **extra: Any,
    ) -> Attached:
        order.account_id = account.id
        attached = there = elsewhere = 0
        licenses = self.unit.account_licenses
        codes = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.order_id == order.id)
            .options(*CODE_WITH_LICENSE)
            .order_by(ActivationCode.id)
            .with_for_update(of=ActivationCode)
        ).all()
        for code in codes:
            try:
                linked = licenses.attach(
                    account, code, code.license, None, via="support", order_told_by_caller=True
                )
            except LicenseLinkedElsewhere:
                elsewhere += 1
                continue
            if linked.already_linked:
                there += 1
            else:
                attached += 1
        fields = {
            "order": order.number,
            "account": account.email,
            "codes_attached": attached,
            "codes_elsewhere": elsewhere,
            **extra,
        }
        audit_action(
            self.unit, actor, request, "support.order_attached", "order", order.id, reason, **fields
        )
        record_action(request, author, self.now, "support.order_attached", reason=reason, **fields)
        tell_requester(
            self.unit, request, "order_attached", told={account.email}, order=order.number
        )
        self.session.flush()
        return Attached(attached, there, elsewhere, account.email)

    def _code_now(
        self,
        request: SupportRequest,
        code: ActivationCode,
        account: Account,
        actor: str,
        author: Account | None,
        reason: str,
        **extra: Any,
    ) -> Attached:
        linked = self.unit.account_licenses.attach(
            account, code, code.license, None, via="support", order_told_by_caller=True
        )
        fields = {
            "code": self.approvals.masked(code),
            "code_id": code.id,
            "account": account.email,
            **extra,
        }
        audit_action(
            self.unit,
            actor,
            request,
            "support.code_attached",
            "activation_code",
            code.id,
            reason,
            **fields,
        )
        record_action(request, author, self.now, "support.code_attached", reason=reason, **fields)
        tell_requester(self.unit, request, "code_attached", told={account.email})
        self.session.flush()
        already = int(linked.already_linked)
        return Attached(1 - already, already, 0, account.email)

    # helpers -------------------------------------------------------------------------

    def _target(self, request: SupportRequest) -> Account:
        """The account the request's codes join (``Desk.customer_account``)."""
        account = self.unit.desk.customer_account(request)
        if account is None:
            raise RequestHasNoAccount()
        return account


def _own_address(email: str, account: Account) -> bool:
    """The order's address is this account's, and the account has proven it holds it."""
    return normalize_email(email) == account.email and account.email_verified_at is not None
