"""Activation codes: made, found, revealed, blocked; and their state as the domain reads it.

A code is stored encrypted, with a keyed blind index to find it by (docs/keys.md): the
clear code exists only where it is made, typed or revealed. Services only ``flush()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from licensor.errors import (
    CodeBlocked,
    CodeMalformed,
    CodeNotSold,
    CodeUnknown,
    LicenseActionRefused,
    ValidationFailed,
)
from licensor.licensing import formats
from licensor.models import (
    ActivationCode,
    AuditEvent,
    Batch,
    CodeOrigin,
    CodeState,
    License,
    Order,
    OrderStatus,
    Plan,
)
from licensor.units import Service, UnitOfWork

CODE_PURPOSE = b"activation_code"

# What a code is read with, since relationships never load behind one's back
# (lazy="raise"): its plan, and its license with that one's plan. One query.
CODE_WITH_LICENSE = (
    joinedload(ActivationCode.plan, innerjoin=True),
    joinedload(ActivationCode.license).joinedload(License.plan, innerjoin=True),
)

_CODES = cast(Table, ActivationCode.__table__)
_MARK_ACTIVE = (
    update(_CODES).where(_CODES.c.id == bindparam("code_id")).values(state=CodeState.ACTIVE)
)

# A code locked, with its plan and its batch (``Codes._locked``); activation's, by its
# blind index, built once: building a statement and its cache key costs as much as
# running it.
_LOCKED_CODE = (
    select(ActivationCode, Batch)
    .join(ActivationCode.plan)
    .options(contains_eager(ActivationCode.plan))
    .outerjoin(Batch, Batch.id == ActivationCode.batch_id)
    .with_for_update(of=_CODES)
    .execution_options(populate_existing=True)
)
_LOCKED_CODE_BY_INDEX = _LOCKED_CODE.where(ActivationCode.code_index == bindparam("code_index"))


def code_state(code: ActivationCode, now: datetime) -> CodeState:
    """The state as the domain defines it: an active code whose term ended is expired.
    The code is read with its license (``CODE_WITH_LICENSE``)."""
    if code.state == CodeState.ACTIVE and code.license and code.license.expires_at <= now:
        return CodeState.EXPIRED
    return code.state


class Codes(Service):
    """Activation codes in one unit of work (``unit.codes``)."""

    def __init__(self, unit: UnitOfWork) -> None:
        super().__init__(unit)
        self._batches_read: dict[int, Batch] = {}

    def code_index(self, canonical: str) -> bytes:
        """The blind index a code is found by."""
        return self.keyring.blind_index(canonical, purpose=CODE_PURPOSE)

    def new_code_row(self, canonical: str, plan: Plan, origin: CodeOrigin) -> dict[str, Any]:
        """Column values of a new code; the caller inserts them (one by one or in bulk)."""
        return {
            "code_index": self.code_index(canonical),
            "code_ciphertext": self.keyring.encrypt(canonical, purpose=CODE_PURPOSE),
            "plan_id": plan.id,
            "origin": origin.value,
            "state": CodeState.ISSUED.value,
            "created_at": self.now,
        }

    def create_code(self, plan: Plan, origin: CodeOrigin) -> tuple[ActivationCode, str]:
        """A new code of ``plan``, and the code in clear (canonical form)."""
        canonical = formats.generate_code()
        code = ActivationCode(**self.new_code_row(canonical, plan, origin))
        self.session.add(code)
        self.session.flush()
        return code, canonical

    def reveal_code(self, code: ActivationCode) -> str:
        """The code in clear (canonical form)."""
        return self.keyring.decrypt(code.code_ciphertext, purpose=CODE_PURPOSE)

    def find_code(self, text: str, *, lock: bool = False) -> ActivationCode:
        """The code typed (any spelling activation takes), with its plan and license;
        ``lock``: its row locked, as activation locks it."""
        try:
            canonical = formats.normalize_code(text)
        except formats.MalformedError as error:
            raise CodeMalformed(str(error)) from None
        index = self.code_index(canonical)
        if lock:
            code = self._locked(_LOCKED_CODE_BY_INDEX, {"code_index": index})
        else:
            code = self._read(ActivationCode.code_index == index, afresh=False)
        if code is None:
            raise CodeUnknown()
        return code

    def get_code(self, code_id: int, *, lock: bool = False) -> ActivationCode:
        """The code with this id, with its plan and license, read afresh (``lock``: locked)."""
        if lock:
            code = self._locked(_LOCKED_CODE.where(ActivationCode.id == code_id), {})
        else:
            code = self._read(ActivationCode.id == code_id, afresh=True)
        if code is None:
            raise CodeUnknown()
        return code

    def _read(self, where: Any, *, afresh: bool) -> ActivationCode | None:
        query = select(ActivationCode).where(where).options(*CODE_WITH_LICENSE)
        return self.session.scalars(query.execution_options(populate_existing=afresh)).first()

    def _locked(self, query: Any, parameters: dict[str, Any]) -> ActivationCode | None:
        """The code ``query`` (a ``_LOCKED_CODE``) finds, locked, with its plan and license.

        The plan and the batch come in the statement that locks the row. An issued code
        comes out whole, its license known to be none: the row locked is the code's newest
        version, and a code leaves ``issued`` in the transaction that makes its license
        (codes never return to it). That is one round trip instead of two or three on a
        first activation, the most frequent (bench/README.md, Scale).

        Any other code's license comes in a statement of its own: on PostgreSQL a statement
        that waited for the lock still sees the joined rows as they were when it began (a
        license another request has just made for this code would be missing, and a second
        one made)."""
        row = self.session.execute(query, parameters).first()
        if row is None:
            return None
        code: ActivationCode = row[0]
        if row[1] is not None:
            # Held here for require_sale: the session's identity map alone keeps no object
            # alive, and nothing else refers to the batch.
            self._batches_read[row[1].id] = row[1]
        if code.state != CodeState.ISSUED:
            return self._read(ActivationCode.id == code.id, afresh=True)
        set_committed_value(code, "license", None)
        return code

    def mark_active(self, code: ActivationCode) -> None:
        """The code's first activation: ``active`` in the database and on the object,
        in one UPDATE without the ORM's flush (activation's hot path)."""
        self.session.connection().execute(_MARK_ACTIVE, {"code_id": code.id})
        set_committed_value(code, "state", CodeState.ACTIVE)

    def require_sale(self, code: ActivationCode) -> None:
        """``CodeNotSold`` for a code of a partner's allocation or of a till batch whose
        sale is not recorded yet (it has no order): until then a stolen card is worthless.
        Only a code that never activated is asked; a license that exists was allowed."""
        if code.batch_id is None or code.order_id is not None:
            return
        batch = self._batches_read.get(code.batch_id) or self.session.get(Batch, code.batch_id)
        if batch is not None and batch.needs_sale:
            raise CodeNotSold()

    def block_code(self, text: str, *, reason: str, actor: str) -> ActivationCode:
        """Block the code typed, and its license (``licensor codes block``)."""
        if not reason.strip():
            raise ValidationFailed("say why the code is blocked")
        return self.block(self.find_code(text, lock=True), reason=reason, actor=actor)

    def block(self, code: ActivationCode, *, reason: str, actor: str) -> ActivationCode:
        """Block a code the caller holds locked (``find_code(lock=True)``), and its license."""
        reason = reason.strip()
        if not reason:
            raise ValidationFailed("say why the code is blocked")
        code.state = CodeState.BLOCKED
        code.blocked_reason = reason
        code.blocked_at = self.now
        if code.license is not None:
            code.license.blocked_at = self.now
            code.license.blocked_reason = reason
        # A refunded reserve code must not keep the term it added (licensing/reserves.py).
        self.unit.reserves.code_blocked(code, actor=actor, reason=reason)
        self.unit.audit(
            "licensing.code_blocked",
            actor=actor,
            subject_type="activation_code",
            subject_id=code.id,
            reason=reason,
        )
        self.unit.webhooks.emit(
            "code.blocked",
            {
                "code_id": code.id,
                "plan": self.session.get_one(Plan, code.plan_id).code,  # not always loaded
                "public_id": code.license.public_id if code.license else None,
                "reason": reason,
            },
        )
        self.session.flush()
        return code

    def unblock(self, code: ActivationCode, *, reason: str, actor: str) -> ActivationCode:
        """Lift a block from a code the caller holds locked (``get_code(lock=True)``): back
        to ``active`` with its license unblocked, or to ``issued`` if it never activated.

        Refused (``LicenseActionRefused``) where the block is not one person's call to
        undo: the code's batch is blocked whole (unblock the batch), its order was
        refunded (the money went back; a new code is a new sale), or it was replaced (its
        license went to the replacement, so it would activate as a second license)."""
        reason = reason.strip()
        if not reason:
            raise ValidationFailed("say why the code is unblocked")
        self._check_unblockable(code)
        previous_reason = code.blocked_reason
        code.state = CodeState.ACTIVE if code.license is not None else CodeState.ISSUED
        code.blocked_reason = None
        code.blocked_at = None
        if code.license is not None:
            code.license.blocked_at = None
            code.license.blocked_reason = None
        self.unit.audit(
            "licensing.code_unblocked",
            actor=actor,
            subject_type="activation_code",
            subject_id=code.id,
            reason=reason,
            previous_reason=previous_reason,
        )
        self.session.flush()
        return code

    def _check_unblockable(self, code: ActivationCode) -> None:
        if code.state != CodeState.BLOCKED:
            raise LicenseActionRefused("not_blocked", "the code is not blocked")
        if code.batch_id is not None:
            batch = self.session.get(Batch, code.batch_id)
            if batch is not None and batch.blocked_at is not None:
                raise LicenseActionRefused(
                    "batch_blocked",
                    f"the code's batch {batch.id} is blocked whole: unblock the batch instead",
                )
        if code.order_id is not None:
            order = self.session.get(Order, code.order_id)
            if order is not None and (
                order.refunded_at is not None or order.status == OrderStatus.REFUNDED
            ):
                raise LicenseActionRefused(
                    "order_refunded",
                    f"the code's order {order.number} was refunded: sell a new code instead",
                )
        if self.was_replaced(code):
            raise LicenseActionRefused(
                "replaced", "the code was replaced by another: it stays blocked"
            )

    def was_replaced(self, code: ActivationCode) -> bool:
        """Whether another code was issued in this one's place (``replace``): its audit
        row names the code it blocked, under the license or under the code."""
        replaced = self.session.scalar(
            select(AuditEvent.id)
            .where(
                AuditEvent.action == "licensing.code_replaced",
                AuditEvent.details["code_id"].as_integer() == code.id,
            )
            .limit(1)
        )
        return replaced is not None

    def replace(
        self, code: ActivationCode, *, reason: str, actor: str
    ) -> tuple[ActivationCode, str]:
        """Block a code the caller holds locked and issue a new one of the same plan and
        origin in its place, in the same order and account; the new code and its clear
        text. A code that has not activated must be sold (``require_sale``): replacing an
        unsold card's code must not give a code that activates without its sale.

        A code that has activated hands its license to the new one: the key, the term and
        the seats stay, so the devices keep working and only the old code is refused. This
        is how a leaked or shared code is taken back, by its owner (My Account) or by an
        agent (the desk), the one rule for both."""
        if code.state == CodeState.BLOCKED:
            raise CodeBlocked()
        license = code.license
        if license is None:
            self.require_sale(code)
        replacement, canonical = self.create_code(code.plan, code.origin)
        replacement.order_id = code.order_id
        if code.account_id is not None:
            replacement.account_id = code.account_id
            replacement.linked_at = self.now
        if license is not None:
            # A code with a license is never ``issued`` (Codes._locked relies on it).
            replacement.state = CodeState.ACTIVE
            license.code_id = replacement.id
            set_committed_value(license, "activation_code", replacement)
            set_committed_value(replacement, "license", license)
            set_committed_value(code, "license", None)  # so block() leaves the license be
        self.block(code, reason=reason, actor=actor)
        # Filed under the license where there is one: its page reads its codes from here.
        self.unit.audit(
            "licensing.code_replaced",
            actor=actor,
            subject_type="license" if license is not None else "activation_code",
            subject_id=license.id if license is not None else code.id,
            reason=reason,
            code_id=code.id,
            replacement_id=replacement.id,
        )
        return replacement, canonical
