"""A request's thread as the desk keeps it: the customer's messages, agents' replies and
internal notes, and the records of what agents did from the request.

Every action on codes, licenses and orders (``recovery.py``, ``attaching.py``,
``approvals.py``) and every status change is written here (``record_action``) as an
internal entry the customer never sees. Its body is data (the action and its fields), so
the desk shows it in the reading agent's language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from licensor.errors import FormInvalid
from licensor.models import Account, Author, SupportMessage, SupportRequest
from licensor.support.figures import RECOVERY_ACTIONS
from licensor.webhooks import events

if TYPE_CHECKING:
    from licensor.units import UnitOfWork

KEY_CONFIRMED = "support.key_confirmed"  # an agent read the key on a screenshot by eye


@dataclass(frozen=True)
class ThreadEntry:
    message: SupportMessage
    kind: str  # "customer", "reply", "note", "action"
    author_email: str | None
    action: dict[str, Any] | None  # an action entry's fields


def record_action(
    request: SupportRequest, agent: Account | None, now: datetime, action: str, **fields: Any
) -> None:
    """Write an agent's action on the request's thread (loaded with it), internal: what,
    who, why (``agent`` None: not staff, such as an order's owner answering a mailed
    link)."""
    request.messages.append(
        SupportMessage(
            author=Author.SYSTEM,
            author_account_id=agent.id if agent is not None else None,
            internal=True,
            body=json.dumps({"action": action, **fields}, ensure_ascii=False),
            created_at=now,
        )
    )
    request.updated_at = now


def recorded_actions(request: SupportRequest) -> list[dict[str, Any]]:
    """The actions written on the request's thread, oldest first."""
    return [
        json.loads(message.body) for message in request.messages if message.author == Author.SYSTEM
    ]


def entry(message: SupportMessage, authors: dict[int, str]) -> ThreadEntry:
    """One message as the desk shows it; ``authors`` the staff emails by account id."""
    author_email = authors.get(message.author_account_id or 0)
    if message.author == Author.SYSTEM:
        return ThreadEntry(message, "action", author_email, json.loads(message.body))
    if message.author == Author.CUSTOMER:
        return ThreadEntry(message, "customer", author_email, None)
    return ThreadEntry(message, "note" if message.internal else "reply", author_email, None)


def required_reason(reason: str) -> str:
    """The reason an action on codes, licenses or orders is audited with: required."""
    reason = reason.strip()
    if not reason:
        raise FormInvalid({"reason": "required"})
    return reason


def audit_action(
    unit: UnitOfWork,
    actor: str,
    request: SupportRequest,
    action: str,
    subject_type: str,
    subject_id: int,
    reason: str,
    **fields: Any,
) -> None:
    """The audit row of an action taken from a request: its reason and the request's
    number beside what the action names."""
    unit.audit(
        action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason,
        actor=actor,
        request=request.number,
        **fields,
    )
    if action in RECOVERY_ACTIONS:  # the dashboard's support_desk channel
        ids = {"order_id" if subject_type == "order" else "code_id": subject_id}
        events.recovered(unit, "support_desk", request=request.number, **ids)
