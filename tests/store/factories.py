"""Store factories: partners, their API keys and allocations, orders — made through the
service, as ``licensor partners create``, ``licensor orders create`` and
``licensor codes issue --partner`` make them; a partner's sale as its API takes one;
payments through the built-in test provider; subscriptions and their enrollment tokens.
Loaded everywhere via ``tests/conftest.py``."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing.batches import issue_codes
from licensor.models import Account
from licensor.store.orders import PlacedOrder
from licensor.store.payments import PaymentRequest, PaymentResult
from licensor.store.testmode import CardForm, TestProvider
from tests.accounts.factories import fresh_email
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
                email=email or fresh_email("buyer"),
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


# --- a partner's sales, through its API ------------------------------------------------------

ORDERS = "/api/v1/partner/orders"


def bearer(key: str) -> dict[str, str]:
    """The header a partner's API key travels in."""
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Seller:
    """A partner with an API key and an allocation (codes in clear, as in its CSV)."""

    slug: str
    key: str
    codes: list[str]

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.key)


MakeSeller = Callable[..., Seller]


@pytest.fixture
def make_seller(
    make_partner: MakePartner, partner_key: PartnerKey, allocate: Allocate
) -> MakeSeller:
    """A new partner with a key and ``count`` codes of ``plan`` allocated to it."""

    def make(*, count: int = 3, plan: str = "plus") -> Seller:
        slug = make_partner().slug
        return Seller(slug, partner_key(slug), allocate(slug, plan=plan, count=count))

    return make


def partner_sale(
    codes: list[str],
    number: str | None = None,
    *,
    purchased_at: str = "2025-03-14T16:05:00+01:00",
    name: str = "Mario Rossi",
    email: str = "Mario.Rossi@example.com",
) -> dict[str, Any]:
    """The body of ``POST /api/v1/partner/orders``: a sale of ``codes``."""
    return {
        "number": number or f"WEB-{secrets.randbelow(10**8):08d}",
        "purchased_at": purchased_at,
        "customer": {"name": name, "email": email},
        "codes": codes,
    }


# --- payments, through the built-in test provider ---------------------------------------------

# Its test cards (docs/payments.md): one that pays, one declined, and one whose first payment
# goes through while every renewal is declined.
PAYS = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
RENEWALS_DECLINED = "4000 0000 0000 0341"

Settle = Callable[[PaymentResult], str]


def card_expiry() -> str:
    """An expiry date a test card still has ahead of it (December of a year to come)."""
    return f"12/{(date.today().year + 3) % 100:02d}"


@pytest.fixture
def provider(settings: Settings, keyring: Keyring, clock: Clock) -> TestProvider:
    """The built-in test payment provider, on the test clock."""
    return TestProvider(settings, keyring, clock.now)


def paid_with(provider: TestProvider, payment: PaymentRequest, card: str = PAYS) -> PaymentResult:
    """What the test provider's verified callback reports for this card."""
    callback = provider.pay(
        reference=payment.reference,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        card=CardForm(card, card_expiry(), "123"),
        save_payment_method=payment.save_payment_method,
    )
    return provider.verify_payment(callback)


@pytest.fixture
def settle(open_unit: OpenUnit) -> Settle:
    """Settle a payment as the provider's verified callback does; the order's status."""

    def apply(result: PaymentResult) -> str:
        with open_unit() as unit:
            return unit.checkout.settle(result, actor="test").status

    return apply


def settled_twice_at_once(open_unit: OpenUnit, result: PaymentResult) -> list[BaseException]:
    """Settle one result in two transactions, the second arriving while the first is still
    uncommitted (for half a second); what either raised."""
    first_settled = threading.Event()
    failures: list[BaseException] = []

    def confirm(first: bool) -> None:
        try:
            if not first:
                assert first_settled.wait(10)
            with open_unit() as unit:
                unit.checkout.settle(result, actor="test")
                if first:
                    first_settled.set()
                    time.sleep(0.5)  # still uncommitted while the other one reads
        except BaseException as error:
            failures.append(error)
            first_settled.set()

    threads = [threading.Thread(target=confirm, args=(first,)) for first in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return failures
