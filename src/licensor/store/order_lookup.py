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

The form itself is checked for required fields and formats only (``LookupForm.problems``):
nothing there depends on which orders exist.
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
from licensor.accounts.service import email_problem, normalize_email
from licensor.models import AuditEvent, Order, OrderStatus, Partner
from licensor.ratelimit import Rule
from licensor.store.orders import MAX_NAME, ORDER_IN_FULL, order_number_key
from licensor.units import Service
from licensor.webhooks import events

JOB = "store.order_lookup"
PURPOSE = b"order_lookup"
MATCHED = "store.order_lookup"
HELD_BACK = "store.order_lookup_held_back"
WHERE_STORE = "store"
WHERE_UNKNOWN = "unknown"
MAX_ORDER_NUMBER = 60


@dataclass(frozen=True)
class LookupRequest:
    """What the order-lookup form asks. ``where`` is ``store``, a partner's slug, or
    ``unknown``."""

    number: str
    purchased_on: date | None
    name: str
    email: str
    where: str = "unknown"


@dataclass(frozen=True)
class LookupForm:
    """What the visitor typed, as typed: the form re-renders with it."""

    order_number: str = ""
    purchased_on: str = ""
    name: str = ""
    email: str = ""
    where: str = ""

    def problems(self, partners: list[Partner], today: date) -> dict[str, str]:
        """What is wrong with the form, by field: required fields and formats only,
        nothing that depends on which orders exist."""
        errors: dict[str, str] = {}
        if self.where not in {WHERE_STORE, WHERE_UNKNOWN, *(partner.slug for partner in partners)}:
            errors["where"] = "where_required"
        if not self.order_number.strip():
            errors["order_number"] = "required"
        elif len(self.order_number) > MAX_ORDER_NUMBER or not order_number_key(self.order_number):
            errors["order_number"] = "order_number_invalid"
        if self.purchased_on.strip():
            try:
                purchased_on = date.fromisoformat(self.purchased_on.strip())
            except ValueError:
                errors["purchased_on"] = "date_invalid"
            else:
                # The buyer's calendar may be a day ahead of ours.
                if purchased_on > today + timedelta(days=1):
                    errors["purchased_on"] = "date_future"
        if not self.name.strip():
            errors["name"] = "required"
        elif len(self.name) > MAX_NAME:
            errors["name"] = "name_too_long"
        if not self.email.strip():
            errors["email"] = "required"
        elif email_problem(self.email.strip()):
            errors["email"] = "email_invalid"
        return errors

    def request(self) -> LookupRequest:
        """The lookup the form asks for (once it has no problems)."""
        purchased_on = self.purchased_on.strip()
        return LookupRequest(
            number=self.order_number,
            purchased_on=date.fromisoformat(purchased_on) if purchased_on else None,
            name=self.name,
            email=self.email,
            where=self.where,
        )


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
            orders = self.unit.orders
            if match.partner is None:
                orders.send_confirmation(match, again=True)
            else:
                orders.send_partner_pointer(match, match.partner)
        self.unit.audit(
            action,
            subject_type="order",
            subject_id=match.id if match else None,
            actor=f"web:{client}",
            matched=match is not None,
            where=request.where,
        )
        if match is not None and action == MATCHED:
            channel = "order_lookup" if match.partner is None else "partner_pointer"
            events.recovered(self.unit, channel, order=match.number)

    def match(self, request: LookupRequest) -> Order | None:
        """The paid order with this number whose buyer's email and name are these, bought
        on this day (± 1: time zones) when a day is given."""
        key = order_number_key(request.number)
        if not key:
            return None
        wanted_email = normalize_email(request.email)
        wanted_name = name_key(request.name)
        orders = select(Order).where(Order.number_key == key).options(*ORDER_IN_FULL)
        for order in self.session.scalars(orders):
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
