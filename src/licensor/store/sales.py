"""Partner sales: a reseller (through the partner API) or the back office (for a partner or
a till) records the sale of codes the partner already holds.

Recording the sale is what lets such a code activate (``CodeNotSold`` until then). The
order is the partner's, under its own number; the partner, not we, delivers the codes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from licensor.accounts.service import email_problem
from licensor.errors import (
    CodeMalformed,
    CodeNotAllocated,
    CodeUnavailable,
    CodeUnknown,
    FormInvalid,
    OrderExists,
    ValidationFailed,
)
from licensor.licensing import formats
from licensor.models import (
    ActivationCode,
    Batch,
    CodeState,
    ItemKind,
    Order,
    OrderItem,
    OrderStatus,
    Partner,
)
from licensor.store.orders import (
    MAX_QUANTITY,
    PlacedOrder,
    generate_order_number,
    new_order,
    order_number_key,
)
from licensor.units import Service
from licensor.webhooks import events

# A partner's server clock may run a little ahead of ours; a sale just made is not "future".
PURCHASE_CLOCK_SKEW = timedelta(minutes=5)


def _sellable_by(batch: Batch, partner: Partner) -> bool:
    """A partner sells its own allocations, and cards of till batches that are no
    partner's (a point-of-sale network: any partner's till registers them)."""
    if batch.partner_id is not None:
        return batch.partner_id == partner.id
    return batch.sold_at_till


class PartnerSales(Service):
    def record(
        self,
        partner: Partner,
        *,
        number: str,
        purchased_at: datetime,
        name: str,
        email: str,
        codes: list[str],
        plan_code: str | None = None,
        actor: str | None = None,
    ) -> Order:
        """A sale the partner made from its allocation, or of cards from a till batch that
        belongs to no partner (any partner's till may sell those): each code must be one of
        these and not sold before. The order is the partner's; recording it twice is
        refused. Recording the sale is what lets the code activate (``CodeNotSold``).

        A code that is not the partner's is ``CodeNotAllocated`` whether it is another
        partner's, ours or was never issued, so the answer tells a partner nothing about
        codes it does not hold. ``plan_code`` (the back office's ``--plan``), when given,
        must be every code's plan."""
        errors: dict[str, str] = {}
        key = order_number_key(number)
        if not key:
            errors["number"] = "required"
        problem = email_problem(email.strip())
        if problem:
            errors["customer.email"] = problem
        if not name.strip():
            errors["customer.name"] = "required"
        if not codes or len(codes) > MAX_QUANTITY:
            errors["codes"] = "codes_range"
        if purchased_at > self.now + PURCHASE_CLOCK_SKEW:
            errors["purchased_at"] = "date_future"
        if errors:
            raise FormInvalid(errors)
        if self.unit.orders.find(number, partner) is not None:
            raise OrderExists(f"order {number.strip()} is already recorded")
        rows = self._sellable_codes(partner, codes, plan_code)
        order = new_order(
            number,
            partner=partner,
            status=OrderStatus.PAID,
            purchased_at=purchased_at,
            name=name,
            email=email,
            created_at=self.now,
        )
        try:
            with self.session.begin_nested():
                self.session.add(order)
        except IntegrityError:
            # The same number, recorded by a concurrent request a moment ago.
            raise OrderExists(f"order {number.strip()} is already recorded") from None
        per_plan: dict[int, int] = {}
        for code in rows:
            code.order_id = order.id
            per_plan[code.plan_id] = per_plan.get(code.plan_id, 0) + 1
        for plan_id, quantity in per_plan.items():
            self.session.add(
                OrderItem(order_id=order.id, plan_id=plan_id, kind=ItemKind.CODE, quantity=quantity)
            )
        self.session.flush()
        # The buyer's address, verified by an account, brings the sale to it: we send the
        # buyer nothing else (the partner delivers), so the owner is told here.
        self.unit.account_purchases.adopt(order, via="partner_sale", tell=True)
        self.unit.audit(
            "store.partner_sale_recorded",
            subject_type="order",
            subject_id=order.id,
            actor=actor or f"partner:{partner.slug}",
            number=order.number,
            codes=len(rows),
            partner=partner.slug,
        )
        self.unit.webhooks.emit("order.paid", {**events.order_data(order), "partner": partner.slug})
        return order

    def _sellable_codes(
        self, partner: Partner, codes: list[str], plan_code: str | None
    ) -> list[ActivationCode]:
        """The codes, locked, once each is known to be the partner's to sell and unsold."""
        canonicals: list[str] = []
        for text in codes:
            try:
                canonicals.append(formats.normalize_code(text))
            except formats.MalformedError as error:
                raise CodeMalformed(str(error)) from None
        if len(set(canonicals)) != len(canonicals):
            raise FormInvalid({"codes": "codes_repeated"})
        rows: list[ActivationCode] = []
        # Locked in one order (by blind index), so two sales sharing codes cannot deadlock.
        for canonical in sorted(canonicals, key=self.unit.codes.code_index):
            masked = formats.mask_code(canonical)
            try:
                code = self.unit.codes.find_code(canonical, lock=True)
            except CodeUnknown:
                raise CodeNotAllocated(f"{masked} is not in your allocation") from None
            batch = self.session.get(Batch, code.batch_id) if code.batch_id else None
            if batch is None or not _sellable_by(batch, partner):
                raise CodeNotAllocated(f"{masked} is not in your allocation")
            if plan_code is not None and code.plan.code != plan_code.strip().lower():
                raise ValidationFailed(f"{masked} is a {code.plan.code} code, not {plan_code}")
            if code.order_id is not None or code.state == CodeState.BLOCKED:
                raise CodeUnavailable(f"{masked} is already sold or blocked")
            rows.append(code)
        return rows

    def record_for(
        self,
        *,
        partner_slug: str,
        codes: list[str],
        email: str,
        name: str,
        plan_code: str | None = None,
        language: str = "en",
        actor: str = "cli",
    ) -> PlacedOrder:
        """The back office records a partner's (or a till's) sale of codes it already holds
        (``licensor orders create --partner SLUG --code CODE``): the same rules as the
        partner API, under an order number of ours."""
        partner = self.unit.partners.by_slug(partner_slug)
        if plan_code is not None:
            self.unit.plans.by_code(plan_code)  # an unknown plan is said as such
        try:
            order = self.record(
                partner,
                number=generate_order_number(),
                purchased_at=self.now,
                name=name,
                email=email,
                codes=codes,
                plan_code=plan_code,
                actor=actor,
            )
        except FormInvalid as error:  # named as the command's options: --email, --name
            raise FormInvalid(
                {
                    field.removeprefix("customer."): problem
                    for field, problem in error.fields.items()
                }
            ) from None
        order.language = language
        return PlacedOrder(
            order.number,
            order.purchased_at,
            [code for _plan, code in self.unit.orders.codes(order)],
            order.channel,
            partner.slug,
            order.customer_email,
        )
