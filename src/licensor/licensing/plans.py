"""Plans: what a code or a subscription gives (term, devices, entitlements) and what the
store asks for it. Made by the vendor (``licensor plans create``), read by every domain."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from licensor.errors import PlanExists, PlanUnknown, ValidationFailed
from licensor.models import Plan
from licensor.units import Service

# A price as a vendor writes one: whole units and at most two decimals, "." or ",", no sign,
# no exponent, no NaN or infinity (which Decimal would take).
_PRICE = re.compile(r"\d{1,7}(?:[.,]\d{1,2})?")
MAX_PRICE = Decimal(1_000_000)
MAX_TERM_DAYS = 36_500  # a hundred years: further, an expiry date is past what dates hold
MAX_DEVICES = 100_000


def parse_price(text: str | None) -> int | None:
    """``"29.99"`` → 2999 cents; ``None`` stays ``None`` (not sold)."""
    if text is None or not text.strip():
        return None
    if _PRICE.fullmatch(text.strip()) is None:
        raise ValidationFailed(f"{text!r} is not a price like 29.99")
    amount = Decimal(text.strip().replace(",", "."))
    if amount > MAX_PRICE:
        raise ValidationFailed(f"{text!r} is more than {MAX_PRICE:,} a code")
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
        if not 1 <= term_days <= MAX_TERM_DAYS:
            raise ValidationFailed(f"term days must be from 1 to {MAX_TERM_DAYS:,}")
        if not 1 <= devices_max <= MAX_DEVICES:
            raise ValidationFailed(f"devices must be from 1 to {MAX_DEVICES:,}")
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
