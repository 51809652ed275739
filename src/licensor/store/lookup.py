"""Order lookup (F5): a customer who lost the mail with their codes asks for it again.

The form's answer is the same page whatever was typed, and so is its timing: the request
only seals what was typed into a job (``OrderLookup.request``); the worker matches it
against the orders and, on a match, mails the order's own address — the confirmation again
for our store's orders, the partner to contact for a partner's (``OrderLookup.run``).

How often: the request is limited per address (``LOOKUP_RATE``), which bounds guessing. An
order is mailed again at most ``LOOKUP_RESEND_RATE`` times (5 an hour), so its owner's
inbox cannot be flooded by someone who knows the order's details; and because only lookups
that matched count, nobody can keep the owner from having theirs mailed by sending wrong
ones with the owner's email (a per-email limit in the request did exactly that).
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select

from licensor import jobs
from licensor.accounts.service import normalize_email
from licensor.audit import audit
from licensor.models import AuditEvent, Order, OrderStatus
from licensor.ratelimit import Rule
from licensor.store.service import order_number_key
from licensor.units import Service

JOB = "store.order_lookup"
PURPOSE = b"order_lookup"
MATCHED = "store.order_lookup"
HELD_BACK = "store.order_lookup_held_back"


@dataclass(frozen=True)
class LookupRequest:
    """What the order-lookup form asks. ``where`` is ``store``, a partner's slug, or
    ``unknown``."""

    number: str
    purchased_on: date | None
    name: str
    email: str
    where: str = "unknown"


def name_key(name: str) -> tuple[str, ...]:
    """A name as a set of words, case and accents aside: "Rossi, Mário" = "mario rossi"."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return tuple(sorted(word for word in re.split(r"[^\w]+", plain) if word))


class OrderLookup(Service):
    """The lookup's two halves, each in its own unit of work."""

    def request(self, request: LookupRequest, *, client: str) -> None:
        """Queue the lookup for the worker: the same work whatever was typed."""
        form = {
            "number": request.number,
            "purchased_on": request.purchased_on.isoformat() if request.purchased_on else None,
            "name": request.name,
            "email": request.email,
            "where": request.where,
            "client": client,
        }
        sealed = self.keyring.encrypt(json.dumps(form), purpose=PURPOSE)
        jobs.enqueue(self.session, self.now, JOB, sealed=base64.b64encode(sealed).decode())

    def run(self, sealed: str) -> None:
        """The worker's half of ``request``."""
        form = json.loads(self.keyring.decrypt(base64.b64decode(sealed), purpose=PURPOSE))
        purchased_on = form["purchased_on"]
        self.look_up(
            LookupRequest(
                number=form["number"],
                purchased_on=date.fromisoformat(purchased_on) if purchased_on else None,
                name=form["name"],
                email=form["email"],
                where=form["where"],
            ),
            client=form["client"],
        )

    def look_up(self, request: LookupRequest, *, client: str) -> None:
        """Match the request against the orders; on a match, mail the order's own address
        (unless it was mailed ``LOOKUP_RESEND_RATE`` times already); audited either way."""
        match = self.match(request)
        action = MATCHED
        if match is not None and self._resent_lately(match) >= self._resends.limit:
            action = HELD_BACK
        elif match is not None:
            store = self.unit.store
            if match.partner is None:
                store.send_confirmation(match, again=True)
            else:
                store.send_partner_pointer(match, match.partner)
        audit(
            self.session,
            self.now,
            actor=f"web:{client}",
            action=action,
            subject_type="order",
            subject_id=match.id if match else None,
            matched=match is not None,
            where=request.where,
        )

    def match(self, request: LookupRequest) -> Order | None:
        """The paid order with this number whose buyer's email and name are these, bought
        on this day (± 1: time zones) when a day is given."""
        key = order_number_key(request.number)
        if not key:
            return None
        wanted_email = normalize_email(request.email)
        wanted_name = name_key(request.name)
        for order in self.session.scalars(select(Order).where(Order.number_key == key)):
            if (
                order.customer_email == wanted_email
                and name_key(order.customer_name) == wanted_name
                and (
                    request.purchased_on is None
                    or abs((order.purchased_at.date() - request.purchased_on).days) <= 1
                )
                and order.status == OrderStatus.PAID
            ):
                return order
        return None

    @property
    def _resends(self) -> Rule:
        return Rule.parse("lookup_resend", self.settings.lookup_resend_rate)

    def _resent_lately(self, order: Order) -> int:
        since = self.now - timedelta(seconds=self._resends.window)
        return (
            self.session.scalar(
                select(func.count(AuditEvent.id)).where(
                    AuditEvent.action == MATCHED,
                    AuditEvent.subject_type == "order",
                    AuditEvent.subject_id == order.id,
                    AuditEvent.occurred_at > since,
                )
            )
            or 0
        )
