"""Plans: what a code or a subscription gives (term, devices, entitlements) and what the
store asks for it. Made, edited and retired by the vendor (``licensor plans ...``), read by
every domain.

A retired plan leaves the store and makes no new codes, orders or subscriptions; what it
made before keeps working (a license reads its plan by id, never by ``by_code``)."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select

from licensor.errors import PlanExists, PlanFieldInvalid, PlanRetired, PlanUnknown
from licensor.models import License, Plan
from licensor.units import Service

# A price as a vendor writes one: whole units and at most two decimals, "." or ",", no sign,
# no exponent, no NaN or infinity (which Decimal would take).
_PRICE = re.compile(r"\d{1,7}(?:[.,]\d{1,2})?")
MAX_PRICE = Decimal(1_000_000)
MAX_TERM_DAYS = 36_500  # a hundred years: further, an expiry date is past what dates hold
MAX_DEVICES = 100_000
# An entitlement's name as the SDK and the license file carry it (``password-manager``).
_ENTITLEMENT = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
MAX_ENTITLEMENTS = 50
MAX_TRANSFERS = 10_000
MAX_TRANSFER_PERIOD_DAYS = 3650
# A floating plan's lease: at least a minute (heartbeats more often than that only load
# the server), at most a day; 900 s is what the console suggests.
MIN_LEASE_SECONDS = 60
MAX_LEASE_SECONDS = 86_400
SUGGESTED_LEASE_SECONDS = 900


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # a price ``edit`` leaves as it is (None takes the plan out of sale)


def _check_bounds(*, name: str | None, term_days: int | None, devices_max: int | None) -> None:
    """The bounds of a plan's fields, the same for a new plan and an edited one."""
    if name is not None and not name.strip():
        raise PlanFieldInvalid("name", "name_missing", "a plan's name is not empty")
    if term_days is not None and not 1 <= term_days <= MAX_TERM_DAYS:
        raise PlanFieldInvalid(
            "term_days", "term_days_range", f"term days must be from 1 to {MAX_TERM_DAYS:,}"
        )
    if devices_max is not None and not 1 <= devices_max <= MAX_DEVICES:
        raise PlanFieldInvalid(
            "devices_max", "devices_range", f"devices must be from 1 to {MAX_DEVICES:,}"
        )


def _check_transfers(limit: int | None, period_days: int | None) -> None:
    """A transfer cap is a number of transfers and a period, both or neither."""
    if (limit is None) != (period_days is None):
        raise PlanFieldInvalid(
            "transfer_limit",
            "transfer_limit_with_period",
            "a transfer limit needs a period in days, and a period a limit",
        )
    if limit is not None and not 0 <= limit <= MAX_TRANSFERS:
        raise PlanFieldInvalid(
            "transfer_limit",
            "transfer_limit_range",
            f"transfers must be from 0 to {MAX_TRANSFERS:,}",
        )
    if period_days is not None and not 1 <= period_days <= MAX_TRANSFER_PERIOD_DAYS:
        raise PlanFieldInvalid(
            "transfer_period_days",
            "transfer_period_range",
            f"a transfer period is from 1 to {MAX_TRANSFER_PERIOD_DAYS:,} days",
        )


def _check_lease(lease_seconds: int | None) -> None:
    if lease_seconds is not None and not MIN_LEASE_SECONDS <= lease_seconds <= MAX_LEASE_SECONDS:
        raise PlanFieldInvalid(
            "lease_seconds",
            "lease_seconds_range",
            f"a lease lasts from {MIN_LEASE_SECONDS} to {MAX_LEASE_SECONDS:,} seconds",
        )


def parse_price(text: str | None, *, field: str = "price_cents") -> int | None:
    """``"29.99"`` → 2999 cents; ``None`` stays ``None`` (not sold). ``field`` names the
    form field a refusal is shown beside."""
    if text is None or not text.strip():
        return None
    if _PRICE.fullmatch(text.strip()) is None:
        raise PlanFieldInvalid(field, "price_malformed", f"{text!r} is not a price like 29.99")
    amount = Decimal(text.strip().replace(",", "."))
    if amount > MAX_PRICE:
        raise PlanFieldInvalid(field, "price_range", f"{text!r} is more than {MAX_PRICE:,} a code")
    return int(amount * 100)


def normalize_entitlements(names: str | list[str] | None) -> list[str]:
    """Entitlement names as a plan keeps them: lower case, sorted, each once. ``names`` is a
    list (``--entitlement`` repeated) or text with one a line or comma separated (the
    console's field); a name is letters, digits and ``-``."""
    if names is None:
        return []
    pieces = names if isinstance(names, list) else [names]
    found: set[str] = set()
    for piece in pieces:
        for name in re.split(r"[,\n]", piece):
            name = name.strip().lower()
            if not name:
                continue
            if _ENTITLEMENT.fullmatch(name) is None:
                raise PlanFieldInvalid(
                    "entitlements",
                    "entitlement_malformed",
                    f"{name!r} is not an entitlement name: use a-z, 0-9 and '-' (at most 40)",
                )
            found.add(name)
    if len(found) > MAX_ENTITLEMENTS:
        raise PlanFieldInvalid(
            "entitlements",
            "entitlements_many",
            f"a plan has at most {MAX_ENTITLEMENTS} entitlements",
        )
    return sorted(found)


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
        transfer_limit: int | None = None,
        transfer_period_days: int | None = None,
        lease_seconds: int | None = None,
    ) -> Plan:
        """A new plan; its code (``plus``) is lower case letters, digits, ``-`` and ``_``;
        audited (``plans.created``). ``lease_seconds`` makes it floating: its device limit
        then counts leases held at once (licensing/leases.py)."""
        code = code.strip().lower()
        currency = currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise PlanFieldInvalid(
                "currency", "currency_malformed", "a currency is a 3-letter ISO 4217 code, e.g. EUR"
            )
        bare = code.replace("-", "").replace("_", "")
        if not bare or not (bare.isascii() and bare.isalnum()):
            raise PlanFieldInvalid(
                "code", "code_malformed", "a plan code is letters, digits, '-' and '_'"
            )
        _check_bounds(name=name, term_days=term_days, devices_max=devices_max)
        _check_transfers(transfer_limit, transfer_period_days)
        _check_lease(lease_seconds)
        entitlements = normalize_entitlements(entitlements)
        if self.session.scalar(select(Plan.id).where(Plan.code == code)) is not None:
            raise PlanExists(f"plan {code!r} already exists")
        plan = Plan(
            code=code,
            name=name.strip(),
            term_days=term_days,
            devices_max=devices_max,
            entitlements=entitlements,
            price_cents=price_cents,
            subscription_price_cents=subscription_price_cents,
            currency=currency,
            created_at=self.now,
            transfer_limit=transfer_limit,
            transfer_period_days=transfer_period_days,
            lease_seconds=lease_seconds,
        )
        self.session.add(plan)
        self.session.flush()
        self.unit.audit(
            "plans.created",
            subject_type="plan",
            subject_id=plan.id,
            code=plan.code,
            term_days=plan.term_days,
            devices_max=plan.devices_max,
            price_cents=plan.price_cents,
            subscription_price_cents=plan.subscription_price_cents,
            entitlements=plan.entitlements,
            transfer_limit=plan.transfer_limit,
            transfer_period_days=plan.transfer_period_days,
            lease_seconds=plan.lease_seconds,
        )
        return plan

    def by_code(self, code: str, *, retired_too: bool = False) -> Plan:
        """The plan of this code (any case), for something new (codes, orders): else
        PlanUnknown, or PlanRetired unless ``retired_too``."""
        plan = self.session.scalar(select(Plan).where(Plan.code == code.strip().lower()))
        if plan is None:
            raise PlanUnknown(f"there is no plan {code!r}")
        if plan.retired_at is not None and not retired_too:
            raise PlanRetired(
                f"plan {plan.code!r} was retired on {plan.retired_at:%Y-%m-%d}: it makes no new "
                "codes or orders"
            )
        return plan

    def edit(
        self,
        code: str,
        *,
        name: str | None = None,
        term_days: int | None = None,
        devices_max: int | None = None,
        price_cents: int | _Keep | None = KEEP,
        subscription_price_cents: int | _Keep | None = KEEP,
        entitlements: str | list[str] | None = None,
        transfer_limit: int | _Keep | None = KEEP,
        transfer_period_days: int | _Keep | None = KEEP,
        lease_seconds: int | _Keep | None = KEEP,
    ) -> dict[str, list[Any]]:
        """Change what is given (None, or KEEP for a price: unchanged), within the bounds of
        ``create``; entitlements as ``normalize_entitlements`` takes them ([] or "" removes
        them all); audited. The term applies to codes activated from now on and to
        renewals; the device limit to every license of the plan. A transfer cap (limit and
        period, None both: no cap) counts from now on, over the releases of the period.
        ``lease_seconds`` (None: counts devices again) applies to the next lease taken; a
        plan with licenses keeps counting as it does (only its lease's length changes). What
        changed, each field as ``[before, after]``."""
        plan = self.by_code(code, retired_too=True)
        _check_bounds(name=name, term_days=term_days, devices_max=devices_max)
        wanted: dict[str, Any] = {
            "name": name.strip() if name is not None else None,
            "term_days": term_days,
            "devices_max": devices_max,
            "entitlements": (
                normalize_entitlements(entitlements) if entitlements is not None else None
            ),
        }
        changes = {
            field: [getattr(plan, field), value]
            for field, value in wanted.items()
            if value is not None and getattr(plan, field) != value
        }
        transfers = {"transfer_limit": transfer_limit, "transfer_period_days": transfer_period_days}
        if any(value is not KEEP for value in transfers.values()):
            _check_transfers(
                *(
                    getattr(plan, field) if value is KEEP else value
                    for field, value in transfers.items()
                )
            )
        if lease_seconds is not KEEP:
            _check_lease(lease_seconds)
            if (lease_seconds is None) != (plan.lease_seconds is None) and self._has_licenses(plan):
                # Its licenses' apps count as they did: switched to leases, every seat would
                # be refused until an app that knows leases checks one out; switched to
                # devices, every registered device would count at once, over the limit.
                raise PlanFieldInvalid(
                    "lease_seconds",
                    "lease_mode_locked",
                    "a plan with licenses keeps counting devices or leases as it does: "
                    "make a new plan for the other",
                )
        prices = {
            "price_cents": price_cents,
            "subscription_price_cents": subscription_price_cents,
            **transfers,
            "lease_seconds": lease_seconds,
        }
        changes |= {
            field: [getattr(plan, field), value]
            for field, value in prices.items()
            if value is not KEEP and getattr(plan, field) != value
        }
        for field, (_before, after) in changes.items():
            setattr(plan, field, after)
        if changes:
            self.session.flush()
            self.unit.audit(
                "plans.edited", subject_type="plan", subject_id=plan.id, changes=changes
            )
        return changes

    def _has_licenses(self, plan: Plan) -> bool:
        return (
            self.session.scalar(select(License.id).where(License.plan_id == plan.id).limit(1))
            is not None
        )

    def retire(self, code: str) -> Plan:
        """Take the plan out of the store and out of new codes and orders, for good;
        audited. Its codes, licenses and subscriptions keep working."""
        plan = self.by_code(code, retired_too=True)
        if plan.retired_at is not None:
            raise PlanRetired(
                f"plan {plan.code!r} was already retired on {plan.retired_at:%Y-%m-%d}"
            )
        plan.retired_at = self.now
        self.session.flush()
        self.unit.audit("plans.retired", subject_type="plan", subject_id=plan.id)
        return plan

    def all(self) -> list[Plan]:
        """Every plan, retired ones too, shortest term first."""
        return list(self.session.scalars(select(Plan).order_by(Plan.term_days, Plan.code)))
