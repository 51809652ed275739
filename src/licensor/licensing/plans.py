"""Plans: what a code or a subscription gives (term, devices, entitlements) and what the
store asks for it. Made by the vendor (``licensor plans create``), read by every domain."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from licensor.errors import PlanExists, PlanUnknown, ValidationFailed
from licensor.models import Plan
from licensor.units import Service


def parse_price(text: str | None) -> int | None:
    """``"29.99"`` → 2999 cents; ``None`` stays ``None`` (not sold)."""
    if text is None or not text.strip():
        return None
    try:
        amount = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationFailed(f"{text!r} is not a price like 29.99") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")) or amount > 1_000_000:
        raise ValidationFailed(f"{text!r} is not a price like 29.99")
    return int(amount * 100)


class Plans(Service):
    """The plans, bound to one unit of work."""

    def create(
        self,
        *,
        code: str,
        name: str,
        term_days: int,
        devices_max: int,
        entitlements: list[str] | None = None,
        price_cents: int | None = None,
        subscription_price_cents: int | None = None,
        currency: str = "EUR",
    ) -> Plan:
        """A new plan; its code (``plus``) is lower case letters, digits, ``-`` and ``_``."""
        code = code.strip().lower()
        currency = currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ValidationFailed("a currency is a 3-letter ISO 4217 code, e.g. EUR")
        if not code or not code.replace("-", "").replace("_", "").isalnum():
            raise ValidationFailed("a plan code is letters, digits, '-' and '_'")
        if term_days < 1 or devices_max < 1:
            raise ValidationFailed("term days and devices must be at least 1")
        if self.session.scalar(select(Plan.id).where(Plan.code == code)) is not None:
            raise PlanExists(f"plan {code!r} already exists")
        plan = Plan(
            code=code,
            name=name.strip(),
            term_days=term_days,
            devices_max=devices_max,
            entitlements=entitlements or [],
            price_cents=price_cents,
            subscription_price_cents=subscription_price_cents,
            currency=currency,
            created_at=self.now,
        )
        self.session.add(plan)
        self.session.flush()
        return plan

    def by_code(self, code: str) -> Plan:
        """The plan of this code (any case), or PlanUnknown."""
        plan = self.session.scalar(select(Plan).where(Plan.code == code.strip().lower()))
        if plan is None:
            raise PlanUnknown(f"there is no plan {code!r}")
        return plan

    def all(self) -> list[Plan]:
        """Every plan, shortest term first."""
        return list(self.session.scalars(select(Plan).order_by(Plan.term_days, Plan.code)))
