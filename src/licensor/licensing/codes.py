"""Activation codes: made, found, revealed, blocked; and their state as the domain reads it.

A code is stored encrypted, with a keyed blind index to find it by (docs/keys.md): the
clear code exists only where it is made, typed or revealed. Services only ``flush()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from licensor.errors import CodeMalformed, CodeNotSold, CodeUnknown, ValidationFailed
from licensor.licensing import formats
from licensor.models import ActivationCode, Batch, CodeOrigin, CodeState, License, Plan
from licensor.units import Service

CODE_PURPOSE = b"activation_code"

# What a code is read with, since relationships never load behind one's back
# (lazy="raise"): its plan, and its license with that one's plan. One query.
CODE_WITH_LICENSE = (
    joinedload(ActivationCode.plan, innerjoin=True),
    joinedload(ActivationCode.license).joinedload(License.plan, innerjoin=True),
)


def code_state(code: ActivationCode, now: datetime) -> CodeState:
    """The state as the domain defines it: an active code whose term ended is expired.
    The code is read with its license (``CODE_WITH_LICENSE``)."""
    if code.state == CodeState.ACTIVE and code.license and code.license.expires_at <= now:
        return CodeState.EXPIRED
    return code.state


class Codes(Service):
    """Activation codes in one unit of work (``unit.codes``)."""

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
        code = self._code(ActivationCode.code_index == self.code_index(canonical), lock, False)
        if code is None:
            raise CodeUnknown()
        return code

    def get_code(self, code_id: int, *, lock: bool = False) -> ActivationCode:
        """The code with this id, with its plan and license, read afresh (``lock``: locked)."""
        code = self._code(ActivationCode.id == code_id, lock, True)
        if code is None:
            raise CodeUnknown()
        return code

    def _code(self, where: Any, lock: bool, afresh: bool) -> ActivationCode | None:
        if lock:
            # The row is locked first, and what it is read with comes in a statement of
            # its own: on PostgreSQL a statement that waited for the lock still sees the
            # joined rows as they were when it began (a license another request has just
            # made for this code would be missing, and a second one made).
            code_id = self.session.scalar(select(ActivationCode.id).where(where).with_for_update())
            if code_id is None:
                return None
            where, afresh = ActivationCode.id == code_id, True
        query = select(ActivationCode).where(where).options(*CODE_WITH_LICENSE)
        return self.session.scalars(query.execution_options(populate_existing=afresh)).first()

    def require_sale(self, code: ActivationCode) -> None:
        """``CodeNotSold`` for a code of a partner's allocation or of a till batch whose
        sale is not recorded yet (it has no order): until then a stolen card is worthless.
        Only a code that never activated is asked; a license that exists was allowed."""
        if code.batch_id is None or code.order_id is not None:
            return
        batch = self.session.get(Batch, code.batch_id)
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
        self.unit.audit(
            "licensing.code_blocked",
            actor=actor,
            subject_type="activation_code",
            subject_id=code.id,
            reason=reason,
        )
        self.session.flush()
        return code
