"""Store factories: partners, their API keys and allocations, orders — made through the
service, as ``licensor partners create``, ``licensor orders create`` and
``licensor codes issue --partner`` make them. Loaded everywhere via ``tests/conftest.py``."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing.batches import issue_codes
from licensor.models import Account
from licensor.store.orders import PlacedOrder
from tests.cli_support import read_codes
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan


@dataclass(frozen=True)
class PartnerInfo:
    slug: str
    name: str
    email: str
    url: str
    phone: str


MakePartner = Callable[..., PartnerInfo]
MakeOrder = Callable[..., PlacedOrder]
PartnerKey = Callable[[str], str]
Allocate = Callable[..., list[str]]


@pytest.fixture
def make_partner(open_unit: OpenUnit) -> MakePartner:
    def make(slug: str | None = None, *, name: str = "Shop Milano", phone: str = "") -> PartnerInfo:
        slug = slug or f"shop-{secrets.token_hex(3)}"
        with open_unit() as unit:
            partner = unit.partners.create(
                slug=slug,
                name=name,
                email=f"help@{slug}.example",
                url=f"https://{slug}.example",
                phone=phone,
            )
            return PartnerInfo(partner.slug, partner.name, partner.email, partner.url, phone)

    return make


@pytest.fixture
def make_order(open_unit: OpenUnit, make_plan: MakePlan) -> MakeOrder:
    """An order as the back office enters it; the plan is made (priced) if it is new."""
    made: set[str] = set()

    def make(
        plan: str = "plus",
        *,
        email: str | None = None,
        name: str = "Mario Rossi",
        quantity: int = 1,
        partner: str | None = None,
        language: str = "en",
        account_id: int | None = None,
    ) -> PlacedOrder:
        if plan not in made:
            with open_unit() as unit:
                exists = {row.code for row in unit.plans.all()}
            if plan not in exists:
                make_plan(plan, price_cents=3999, subscription_price_cents=2999)
            made.add(plan)
        with open_unit() as unit:
            return unit.orders.create(
                plan_code=plan,
                email=email or f"buyer-{secrets.token_hex(4)}@example.com",
                name=name,
                quantity=quantity,
                partner_slug=partner,
                language=language,
                account_id=account_id,
            )

    return make


@pytest.fixture
def partner_key(open_unit: OpenUnit) -> PartnerKey:
    """A fresh partner API key for the partner with this slug."""

    def make(slug: str) -> str:
        with open_unit() as unit:
            return unit.partners.create_key(unit.partners.by_slug(slug), label="test")

    return make


@pytest.fixture
def allocate(
    database: Database,
    keyring: Keyring,
    settings: Settings,
    open_unit: OpenUnit,
    make_plan: MakePlan,
    tmp_path: Path,
) -> Allocate:
    """Codes allocated to a partner (``codes issue --partner``), in clear, as it receives them."""
    made: set[str] = set()

    def make(slug: str, *, plan: str = "plus", count: int = 3) -> list[str]:
        if plan not in made:
            with open_unit() as unit:
                exists = {row.code for row in unit.plans.all()}
            if plan not in exists:
                make_plan(plan)
            made.add(plan)
        out = tmp_path / f"allocation-{secrets.token_hex(3)}.csv"
        issue_codes(
            database, keyring, settings, plan_code=plan, count=count, out=out, partner_slug=slug
        )
        return read_codes(out)[1]

    return make


MakeSubscription = Callable[..., int]


@pytest.fixture
def make_subscription(open_unit: OpenUnit, make_plan: MakePlan) -> MakeSubscription:
    """A paid subscription for an account (as checkout starts one); its id."""
    made: set[str] = set()

    def make(account_id: int, plan: str = "premium", *, devices_max: int = 3) -> int:
        if plan not in made:
            make_plan(plan, term_days=30, devices_max=devices_max, subscription_price_cents=999)
            made.add(plan)
        with open_unit() as unit:
            account = unit.session.get_one(Account, account_id)
            return unit.subscriptions.start(account, unit.plans.by_code(plan)).id

    return make


EnrollmentTokenFor = Callable[[int, int], str]  # (account_id, subscription_id) -> token


@pytest.fixture
def enrollment_token(open_unit: OpenUnit) -> EnrollmentTokenFor:
    """A subscription's one-time enrollment token, as My Account puts one in a download."""

    def make(account_id: int, subscription_id: int) -> str:
        with open_unit() as unit:
            account = unit.session.get_one(Account, account_id)
            return unit.subscriptions.enrollment_token(account, subscription_id)

    return make
