"""Buying a subscription through the store checkout (F1): only signed in, one PENDING order
with one subscription item, started once by the provider's verified callback (however
often it comes, or however it races), with a confirmation that carries no code."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from licensor.clock import Clock
from licensor.db import Database
from licensor.errors import AlreadySubscribed, PlanNotForSale, SubscriptionNeedsAccount
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import (
    Account,
    ActivationCode,
    ItemKind,
    Order,
    OrderStatus,
    OutboxMessage,
    Subscription,
)
from licensor.store.order_lookup import LookupRequest
from licensor.store.payments import (
    PaymentOutcome,
    PaymentRequest,
    PaymentResult,
    RecurringCharge,
)
from licensor.store.testmode import CardForm, TestProvider
from licensor.web.i18n import format_date
from tests.accounts.factories import Customer, MakeAccount, OpenBrowser
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan
from tests.store.factories import (
    DECLINED,
    PAYS,
    RENEWALS_DECLINED,
    Settle,
    card_expiry,
    paid_with,
    settled_twice_at_once,
)

CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}-[0-9A-Z]{5}\b")


@dataclass(frozen=True)
class Started:
    status: str
    kinds: list[str]
    subscriptions: list[Subscription]
    codes: list[ActivationCode]
    mails: list[OutboxMessage]


Subscribe = Callable[..., PaymentRequest]


@pytest.fixture
def premium(make_plan: MakePlan) -> str:
    """Sold both ways: a code at 59.99, a subscription at 9.99 every 30 days."""
    return make_plan(
        "premium", term_days=30, devices_max=3, price_cents=5999, subscription_price_cents=999
    )


@pytest.fixture
def subscribe(open_unit: OpenUnit, premium: str) -> Subscribe:
    def start(
        customer: Customer | None, *, plan: str = "premium", name: str = "Carla Verdi"
    ) -> PaymentRequest:
        with open_unit() as unit:
            account = unit.session.get(Account, customer.id) if customer else None
            return unit.checkout.subscribe(
                plan, name=name, account=account, language="en", actor="test"
            )

    return start


def started(database: Database, payment: PaymentRequest) -> Started:
    with database.transaction() as session:
        order = session.scalars(
            select(Order)
            .where(Order.payment_reference == payment.reference)
            .options(selectinload(Order.items))
        ).one()
        return Started(
            order.status,
            [item.kind for item in order.items],
            list(session.scalars(select(Subscription).where(Subscription.order_id == order.id))),
            list(
                session.scalars(select(ActivationCode).where(ActivationCode.order_id == order.id))
            ),
            list(
                session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.recipient == order.customer_email)
                    .order_by(OutboxMessage.id)
                )
            ),
        )


def test_a_subscription_checkout_is_a_pending_order_of_one_subscription_at_its_price(
    subscribe: Subscribe, make_account: MakeAccount, database: Database
) -> None:
    customer = make_account()

    payment = subscribe(customer)

    assert (payment.amount_cents, payment.currency) == (999, "EUR")
    assert payment.save_payment_method is True  # the provider keeps the card for renewals
    assert payment.customer_email == customer.email
    assert started(database, payment) == Started(
        OrderStatus.PENDING, [ItemKind.SUBSCRIPTION], [], [], []
    )


def test_a_paid_subscription_starts_with_the_saved_card_and_a_confirmation_without_a_code(
    subscribe: Subscribe,
    settle: Settle,
    provider: TestProvider,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
    clock: Clock,
) -> None:
    customer = make_account()
    payment = subscribe(customer)
    result = paid_with(provider, payment)

    settled_from = clock.now()
    assert settle(result) == OrderStatus.PAID
    settled_by = clock.now()

    order = started(database, payment)
    [subscription] = order.subscriptions
    assert (subscription.account_id, subscription.status) == (customer.id, "active")
    assert subscription.payment_reference == result.payment_method
    assert result.payment_method.startswith("tpm_4242_")
    # The clock is the wall clock: the settle may fall in a second after settled_from.
    term = timedelta(days=30)
    assert settled_from + term <= subscription.current_period_end <= settled_by + term
    assert order.codes == []
    [mail] = order.mails
    assert mail.template == "subscription_confirmation"
    assert payment.order_number in mail.subject
    text, html = bodies(keyring, mail)
    assert "Premium" in text
    assert f"Renews on: {format_date(subscription.current_period_end, 'en')}" in text
    assert "/account/subscriptions" in text
    assert "/account/subscriptions" in html
    assert CODE.findall(text) == []


def test_a_repeated_paid_callback_starts_one_subscription(
    subscribe: Subscribe,
    settle: Settle,
    provider: TestProvider,
    make_account: MakeAccount,
    database: Database,
) -> None:
    payment = subscribe(make_account())
    result = paid_with(provider, payment)

    for _ in range(3):
        assert settle(result) == OrderStatus.PAID
    settle(PaymentResult(payment.reference, PaymentOutcome.FAILED, 999, "EUR"))  # stale

    order = started(database, payment)
    assert (order.status, len(order.subscriptions), len(order.mails)) == (OrderStatus.PAID, 1, 1)


# SQLite runs one transaction at a time (BEGIN IMMEDIATE): there the second never overlaps
# the first, and this is the sequential case tested above.
@pytest.mark.postgres_only
def test_two_concurrent_paid_callbacks_start_one_subscription(
    subscribe: Subscribe,
    provider: TestProvider,
    make_account: MakeAccount,
    database: Database,
    open_unit: OpenUnit,
) -> None:
    """The second callback arrives while the first one's transaction is still open: without
    the row lock on the order it would read PENDING and start a second subscription."""
    payment = subscribe(make_account())
    result = paid_with(provider, payment)
    assert settled_twice_at_once(open_unit, result) == []
    order = started(database, payment)
    assert (order.status, len(order.subscriptions), len(order.mails)) == (OrderStatus.PAID, 1, 1)


def test_the_webhook_sent_again_and_again_starts_one_subscription(
    subscribe: Subscribe,
    provider: TestProvider,
    make_account: MakeAccount,
    api: httpx.Client,
    database: Database,
) -> None:
    payment = subscribe(make_account())
    callback = provider.pay(
        reference=payment.reference,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        card=CardForm(PAYS, card_expiry(), "123"),
        save_payment_method=True,
    )

    answers = [
        api.post("/api/v1/payments/test/webhook", content=callback.body, headers=callback.headers)
        for _ in range(3)
    ]

    assert [(answer.status_code, answer.json()["status"]) for answer in answers] == [
        (200, "paid")
    ] * 3
    order = started(database, payment)
    assert (len(order.subscriptions), len(order.mails)) == (1, 1)


def test_a_subscription_needs_an_account_and_a_plan_sold_as_one(
    subscribe: Subscribe, make_plan: MakePlan, database: Database
) -> None:
    make_plan("codes-only", price_cents=1999)

    with pytest.raises(SubscriptionNeedsAccount):
        subscribe(None)
    with pytest.raises(PlanNotForSale):
        subscribe(None, plan="codes-only")
    with database.transaction() as session:
        assert session.scalars(select(Order)).all() == []


def test_a_customer_cannot_subscribe_twice_to_a_plan_that_still_renews(
    subscribe: Subscribe, settle: Settle, provider: TestProvider, make_account: MakeAccount
) -> None:
    customer = make_account()
    settle(paid_with(provider, subscribe(customer)))

    with pytest.raises(AlreadySubscribed):
        subscribe(customer)


def test_a_declined_first_payment_starts_nothing_and_try_again_subscribes(
    subscribe: Subscribe,
    settle: Settle,
    provider: TestProvider,
    make_account: MakeAccount,
    database: Database,
    open_unit: OpenUnit,
) -> None:
    customer = make_account()
    declined = subscribe(customer)
    assert settle(paid_with(provider, declined, DECLINED)) == OrderStatus.FAILED
    assert started(database, declined).subscriptions == []

    with open_unit() as unit:
        again = unit.checkout.retry(declined.reference, actor="test")
    assert again.save_payment_method
    assert again.amount_cents == 999
    settle(paid_with(provider, again))

    order = started(database, again)
    assert (order.kinds, len(order.subscriptions)) == ([ItemKind.SUBSCRIPTION], 1)


def test_order_lookup_of_a_subscription_order_sends_its_confirmation_again_without_a_code(
    subscribe: Subscribe,
    settle: Settle,
    provider: TestProvider,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    open_unit: OpenUnit,
) -> None:
    customer = make_account()
    payment = subscribe(customer, name="Carla Verdi")
    settle(paid_with(provider, payment))

    with open_unit() as unit:
        unit.order_lookup.look_up(
            LookupRequest(
                number=payment.order_number.lower().replace("-", " "),
                purchased_on=clock.now().date(),
                name="verdi carla",
                email=customer.email.upper(),
                where="store",
            ),
            client="test",
        )

    first, again = started(database, payment).mails
    assert first.template == again.template == "subscription_confirmation"
    assert "again" in again.subject
    text, _ = bodies(keyring, again)
    assert "You asked us to send your order again" in text
    assert "Renews on:" in text
    assert CODE.findall(text) == []


def test_the_test_provider_renews_a_saved_4242_and_declines_a_saved_0341_every_time(
    subscribe: Subscribe, provider: TestProvider, make_account: MakeAccount
) -> None:
    good = paid_with(provider, subscribe(make_account()), PAYS)
    bad = paid_with(provider, subscribe(make_account()), RENEWALS_DECLINED)
    assert (good.outcome, bad.outcome) == (PaymentOutcome.PAID, PaymentOutcome.PAID)

    def renew(method: str, reference: str = "ren_1_20260101000000_0") -> PaymentResult:
        return provider.charge(
            RecurringCharge(reference, method, 999, "EUR", "Premium renewal", "a@example.com")
        )

    assert renew(good.payment_method).outcome == PaymentOutcome.PAID
    assert renew(bad.payment_method).outcome == PaymentOutcome.FAILED
    assert renew("pm_not_ours").outcome == PaymentOutcome.FAILED
    # One reference is one payment: asked again, the same answer and the same payment id.
    assert renew(good.payment_method) == renew(good.payment_method)
    assert (
        renew(good.payment_method).provider_payment_id
        != renew(good.payment_method, "ren_1_20260101000000_1").provider_payment_id
    )


def test_a_visitor_is_sent_to_sign_in_to_subscribe_and_no_order_is_made(
    form_browser: OpenBrowser, premium: str, make_account: MakeAccount, database: Database
) -> None:
    visitor = form_browser()
    page = visitor.get("/store/premium")
    assert "Sign in to subscribe" in page.text
    assert 'href="/sign-in?next=/store/premium"' in page.text
    assert 'action="/store/premium/subscribe"' not in page.text

    answer = visitor.post("/store/premium/subscribe", {"name": "Carla Verdi"})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=/store/premium"
    with database.transaction() as session:
        assert session.scalars(select(Order)).all() == []
    # Signed in through that link, the customer is back on the plan, with the form.
    customer = make_account()
    signed_in = visitor.post(
        "/sign-in",
        {"email": customer.email, "password": customer.password, "next": "/store/premium"},
    )
    assert signed_in.headers["location"] == "/store/premium"
    assert 'action="/store/premium/subscribe"' in visitor.get("/store/premium").text


def test_a_signed_in_customer_subscribes_through_the_pages_to_the_test_card_page(
    form_browser: OpenBrowser, premium: str, make_account: MakeAccount, database: Database
) -> None:
    customer = make_account()
    browser = form_browser()
    browser.sign_in(customer)

    refused = browser.post("/store/premium/subscribe", {"name": " "})
    assert refused.status_code == 422
    assert "This field is required." in refused.text
    answer = browser.post("/store/premium/subscribe", {"name": "Carla Verdi"})

    assert answer.status_code == 303
    reference = answer.headers["location"].rsplit("/", 1)[1]
    assert answer.headers["location"].endswith(f"/store/pay/test/{reference}")
    card_page = browser.get(f"/store/pay/test/{reference}").text
    assert "Premium subscription" in card_page
    assert "4000 0000 0000 0341" in card_page
    with database.transaction() as session:
        order = session.scalars(select(Order).where(Order.payment_reference == reference)).one()
        assert (order.account_id, order.status, order.total_cents) == (customer.id, "pending", 999)
