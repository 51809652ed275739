"""The questions an attachment waits on (F7, ``attaching.py``): an order or a code an
agent asked to join to a customer's account while it is someone else's of record.

A question (``AttachApproval``) is answered once: by the order's own address, through the
link mailed to it (single-use, the token stored hashed, good for ``CONFIRM_DAYS``), which
may confirm or answer that it did not ask; or by a staff member other than the one who
asked, and not the account the codes would join, with a reason; or by the clock (a job
due at its expiry). A code with no order address is answered by staff only. Each step is
audited (``support.attach_requested``, ``_confirmed``, ``_declined``, ``_approved``,
``_expired``) and written on the request's thread. What a confirmation or an approval
moves is ``attaching.py``'s; nothing here shows a code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from licensor import jobs
from licensor.accounts.service import mask_email, new_token, token_hash
from licensor.clock import mail_time
from licensor.errors import FormInvalid, LicenseLinkedElsewhere, NotFound, OrderLinkedElsewhere
from licensor.licensing import formats
from licensor.models import (
    Account,
    ActivationCode,
    ApprovalState,
    AttachApproval,
    Order,
    OrderItem,
    SupportRequest,
)
from licensor.support.desk.thread import record_action
from licensor.units import Service

CONFIRM_DAYS = 7
EXPIRE_JOB = "support.expire_attach_approval"
CONFIRM_PATH = "/support/confirm/"
# A question's request, with the thread each of its steps is written on.
WITH_REQUEST = selectinload(AttachApproval.request).selectinload(SupportRequest.messages)


@dataclass(frozen=True)
class ApprovalRow:
    """A question as the desk shows it."""

    approval: AttachApproval
    order_number: str | None
    code_masked: str | None
    plan: str
    count: int
    account_email: str
    requested_by: str
    decided_by: str | None


@dataclass(frozen=True)
class Question:
    """What the confirmation page asks the order's own address."""

    kind: str  # "order" or "code"
    order_number: str | None
    plan: str
    count: int
    account: str  # masked
    request_number: str
    public_id: str | None


class Approvals(Service):
    """Ask, list, answer and expire the questions, bound to one unit of work."""

    def ask(
        self,
        agent: Account,
        request: SupportRequest,
        account: Account,
        *,
        order: Order | None,
        code: ActivationCode | None,
        reason: str,
    ) -> AttachApproval:
        """Ask the order's address (when there is an order) and staff; nothing moves."""
        waiting = select(AttachApproval.id).where(
            AttachApproval.request_id == request.id,
            AttachApproval.account_id == account.id,
            AttachApproval.state == ApprovalState.PENDING,
        )
        if code is not None:
            waiting = waiting.where(AttachApproval.code_id == code.id)
        else:
            assert order is not None
            waiting = waiting.where(
                AttachApproval.order_id == order.id, AttachApproval.code_id.is_(None)
            )
        if self.session.scalar(waiting) is not None:
            raise FormInvalid({"attach": "attach_already_asked"})
        token, digest = new_token() if order is not None else (None, None)
        approval = AttachApproval(
            request_id=request.id,
            account_id=account.id,
            order_id=order.id if order is not None else None,
            code_id=code.id if code is not None else None,
            owner_email=order.customer_email if order is not None else None,
            token_hash=digest,
            state=ApprovalState.PENDING,
            requested_by_id=agent.id,
            reason=reason,
            created_at=self.now,
            expires_at=self.now + timedelta(days=CONFIRM_DAYS),
        )
        self.session.add(approval)
        self.session.flush()
        self._record(
            agent,
            request,
            approval,
            "support.attach_requested",
            f"agent:{agent.id}",
            reason=reason,
            confirm_by="owner_or_staff" if token else "staff",
        )
        if order is not None and token is not None:
            self.send_mail(
                order.customer_email,
                order.language,
                "support_attach_confirm",
                kind="code" if code is not None else "order",
                number=request.number,
                order_number=order.number,
                plan=self.plan(order, code),
                count=self.count(order, code),
                public_id=code.license.public_id if code is not None and code.license else None,
                account=mask_email(account.email),
                link=self.settings.url(CONFIRM_PATH + token),
                days=CONFIRM_DAYS,
                when=mail_time(self.now),
            )
        job = jobs.enqueue(self.session, self.now, EXPIRE_JOB, approval_id=approval.id)
        job.next_attempt_at = approval.expires_at
        self.session.flush()
        return approval

    def rows(self, request: SupportRequest) -> list[ApprovalRow]:
        """Every question of the request, oldest first: their orders, codes, counts and
        the staff and accounts they name, each in one query."""
        approvals = self.session.scalars(
            select(AttachApproval)
            .where(AttachApproval.request_id == request.id)
            .order_by(AttachApproval.id)
        ).all()
        if not approvals:
            return []
        order_ids = {a.order_id for a in approvals if a.order_id is not None}
        orders = {
            order.id: order
            for order in self.session.scalars(
                select(Order)
                .where(Order.id.in_(order_ids))
                .options(selectinload(Order.items).selectinload(OrderItem.plan))
            )
        }
        codes = {
            code.id: code
            for code in self.session.scalars(
                select(ActivationCode)
                .where(ActivationCode.id.in_({a.code_id for a in approvals if a.code_id}))
                .options(selectinload(ActivationCode.plan))
            )
        }
        counts = {
            order_id: count
            for order_id, count in self.session.execute(
                select(ActivationCode.order_id, func.count(ActivationCode.id))
                .where(ActivationCode.order_id.in_(order_ids))
                .group_by(ActivationCode.order_id)
            )
        }
        named = {a.account_id for a in approvals} | {a.requested_by_id for a in approvals}
        named |= {a.decided_by_id for a in approvals if a.decided_by_id is not None}
        emails = {
            account_id: email
            for account_id, email in self.session.execute(
                select(Account.id, Account.email).where(Account.id.in_(named))
            )
        }
        rows = []
        for approval in approvals:
            order = orders.get(approval.order_id) if approval.order_id else None
            code = codes.get(approval.code_id) if approval.code_id else None
            rows.append(
                ApprovalRow(
                    approval=approval,
                    order_number=order.number if order else None,
                    code_masked=self.masked(code) if code else None,
                    plan=self.plan(order, code),
                    count=1 if code is not None or order is None else counts.get(order.id, 0),
                    account_email=emails[approval.account_id],
                    requested_by=emails[approval.requested_by_id],
                    decided_by=emails.get(approval.decided_by_id)
                    if approval.decided_by_id
                    else None,
                )
            )
        return rows

    def approve(
        self, staff: Account, request: SupportRequest, approval_id: int, *, reason: str
    ) -> AttachApproval:
        """A second staff member's answer: never the one who asked, nor the account the
        codes would join, and with a reason."""
        approval = self.session.scalar(
            select(AttachApproval)
            .where(AttachApproval.id == approval_id)
            .options(WITH_REQUEST)
            .with_for_update()
        )
        if approval is None or approval.request_id != request.id:
            raise NotFound("there is no such approval on this request")
        reason = reason.strip()
        if staff.id == approval.requested_by_id:
            raise FormInvalid({"reason": "approval_by_asker"})
        if staff.id == approval.account_id:
            raise FormInvalid({"reason": "approval_by_receiver"})
        if not reason:
            raise FormInvalid({"reason": "required"})
        self._expire_if_due(approval)
        if approval.state != ApprovalState.PENDING:
            raise FormInvalid({"reason": f"approval_{approval.state}"})
        self._check_movable(approval)
        self._decide(approval, ApprovalState.APPROVED)
        approval.decided_by_id = staff.id
        approval.decision_reason = reason
        self._record(
            staff, request, approval, "support.attach_approved", f"agent:{staff.id}", reason=reason
        )
        return approval

    def question(self, token: str) -> Question | None:
        """What the link asks, or None when it is unknown, used or expired."""
        approval = self._by_token(token, lock=False)
        if approval is None:
            return None
        order, code = self.subject(approval)
        return Question(
            kind="code" if code is not None else "order",
            order_number=order.number if order else None,
            plan=self.plan(order, code),
            count=self.count(order, code),
            account=mask_email(self.session.get_one(Account, approval.account_id).email),
            request_number=approval.request.number,
            public_id=code.license.public_id if code is not None and code.license else None,
        )

    def answer(self, token: str, *, confirmed: bool, address: str) -> AttachApproval | None:
        """The order's address answers through its link; None when the link is unknown,
        used or expired. Confirming raises ``OrderLinkedElsewhere`` or
        ``LicenseLinkedElsewhere`` (nothing changes) when what it asks about has joined
        another account since."""
        approval = self._by_token(token, lock=True)
        if approval is None:
            return None
        if confirmed:
            self._check_movable(approval)
        self._decide(approval, ApprovalState.CONFIRMED if confirmed else ApprovalState.DECLINED)
        action = "support.attach_confirmed" if confirmed else "support.attach_declined"
        self._record(None, approval.request, approval, action, owner_actor(approval), ip=address)
        return approval

    def expire(self, approval_id: int) -> None:
        """Close a question nobody answered in time (the worker's job, at its expiry)."""
        approval = self.session.scalar(
            select(AttachApproval)
            .where(AttachApproval.id == approval_id)
            .options(WITH_REQUEST)
            .with_for_update()
        )
        if approval is not None:
            self._expire_if_due(approval)

    # what a question is about --------------------------------------------------------

    def subject(self, approval: AttachApproval) -> tuple[Order | None, ActivationCode | None]:
        """The order (with its items) or the code (with its plan and license) asked about."""
        lookup = self.unit.desk_lookup
        order = lookup.order(approval.order_id) if approval.order_id else None
        code = lookup.code(approval.code_id) if approval.code_id else None
        return order, code

    def masked(self, code: ActivationCode) -> str:
        return formats.mask_code(self.unit.codes.reveal_code(code))

    def plan(self, order: Order | None, code: ActivationCode | None) -> str:
        if code is not None:
            return code.plan.name
        assert order is not None
        return order.items[0].plan.name if order.items else ""

    def count(self, order: Order | None, code: ActivationCode | None) -> int:
        if code is not None or order is None:
            return 1
        counted = select(func.count(ActivationCode.id)).where(ActivationCode.order_id == order.id)
        return self.session.scalar(counted) or 0

    # helpers -------------------------------------------------------------------------

    def _decide(self, approval: AttachApproval, state: ApprovalState) -> None:
        approval.state = state
        approval.decided_at = self.now
        approval.token_hash = None  # answered once: the link is spent too

    def _check_movable(self, approval: AttachApproval) -> None:
        """Before anything is written: what was asked about may have joined another
        account in the meantime, and then it stays where it is."""
        order, code = self.subject(approval)
        if code is not None:
            if code.account_id is not None and code.account_id != approval.account_id:
                raise LicenseLinkedElsewhere()
        elif order is not None and order.account_id not in (None, approval.account_id):
            raise OrderLinkedElsewhere()

    def _expire_if_due(self, approval: AttachApproval) -> None:
        if approval.state != ApprovalState.PENDING or approval.expires_at > self.now:
            return
        self._decide(approval, ApprovalState.EXPIRED)
        self._record(None, approval.request, approval, "support.attach_expired", "system")

    def _by_token(self, token: str, *, lock: bool) -> AttachApproval | None:
        if not token or len(token) > 200:
            return None
        query = (
            select(AttachApproval)
            .where(AttachApproval.token_hash == token_hash(token))
            .options(WITH_REQUEST)
        )
        approval = self.session.scalar(query.with_for_update() if lock else query)
        if approval is None:
            return None
        self._expire_if_due(approval)
        return approval if approval.state == ApprovalState.PENDING else None

    def _record(
        self,
        author: Account | None,
        request: SupportRequest,
        approval: AttachApproval,
        action: str,
        actor: str,
        reason: str | None = None,
        **fields: Any,
    ) -> None:
        """One step of the question: audited, and written on the request's thread."""
        order, code = self.subject(approval)
        described: dict[str, Any] = {
            "approval": approval.id,
            "account": self.session.get_one(Account, approval.account_id).email,
            "order": order.number if order else None,
            "code": self.masked(code) if code else None,
            "owner": approval.owner_email,
            **fields,
        }
        if code is not None:
            subject_type, subject_id = "activation_code", code.id
        else:
            assert order is not None
            subject_type, subject_id = "order", order.id
        self.unit.audit(
            action,
            subject_type=subject_type,
            subject_id=subject_id,
            reason=reason,
            actor=actor,
            request=request.number,
            **described,
        )
        on_thread = {name: value for name, value in described.items() if name != "ip"}
        if reason:
            on_thread["reason"] = reason
        record_action(request, author, self.now, action, **on_thread)


def owner_actor(approval: AttachApproval) -> str:
    """The audit's actor for the order's own address answering its link."""
    return f"owner:{approval.owner_email}"
