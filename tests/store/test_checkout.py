"""Checkout rules (F2) through the service, and the provider's callbacks through the real
server: a paid order is delivered once, a declined one never, whatever arrives twice."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import (
    CallbackRejected,
    FormInvalid,
    PaymentMismatch,
    PaymentSetupError,
    PlanNotForSale,
)
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from licensor.models import (
    Account,
    ActivationCode,
    CodeOrigin,
    Order,
    OrderStatus,
    OutboxMessage,
)
from licensor.store.checkout import MAX_STORE_QUANTITY, CheckoutForm
from licensor.store.payments import (
    Callback,
    PaymentOutcome,
    PaymentRequest,
    PaymentResult,
    load_provider,
)
from licensor.store.testmode import SIGNATURE_HEADER, CardForm, TestProvider, card_problems
from tests.accounts.factories import MakeAccount, fresh_email
from tests.cli_support import cli_environment, console_script
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan
from tests.store.factories import DECLINED, PAYS, Settle, card_expiry, settled_twice_at_once
from tests.support import assert_problem, free_port


@dataclass(frozen=True)
class Delivered:
    status: str
    codes: list[ActivationCode]
    mails: list[OutboxMessage]


@pytest.fixture
def plus(make_plan: MakePlan) -> str:
    return make_plan("plus", price_cents=3999)


StartCheckout = Callable[..., PaymentRequest]


@pytest.fixture
def start_checkout(open_unit: OpenUnit, plus: str) -> StartCheckout:
    def start(
        *,
        quantity: int = 1,
        name: str = "Mario Rossi",
        email: str | None = None,
        account_id: int | None = None,
        plan: str = "plus",
    ) -> PaymentRequest:
        with open_unit() as unit:
            account = unit.session.get(Account, account_id) if account_id else None
            return unit.checkout.start(
                plan,
                CheckoutForm(str(quantity), name, email or fresh_email("buyer", "ex.com")),
                account=account,
                language="en",
                actor="test",
            )

    return start


def outcome(payment: PaymentRequest, result: PaymentOutcome, **changes: object) -> PaymentResult:
    fields: dict[str, object] = {
        "reference": payment.reference,
        "outcome": result,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "provider_payment_id": "tp_test",
    }
    fields.update(changes)
    return PaymentResult(**fields)  # type: ignore[arg-type]


def delivered(database: Database, payment: PaymentRequest) -> Delivered:
    with database.transaction() as session:
        order = session.scalars(
            select(Order).where(Order.payment_reference == payment.reference)
        ).one()
        codes = session.scalars(
            select(ActivationCode).where(ActivationCode.order_id == order.id)
        ).all()
        mails = session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == order.customer_email)
        ).all()
        return Delivered(order.status, list(codes), list(mails))


# --- starting ---------------------------------------------------------------------------------


def test_a_checkout_starts_a_pending_order_at_the_plans_price_without_codes(
    start_checkout: StartCheckout, database: Database
) -> None:
    payment = start_checkout(quantity=3)

    assert payment.amount_cents == 3 * 3999
    assert payment.currency == "EUR"
    assert payment.reference.startswith("pay_")
    assert payment.return_url.endswith(f"/store/orders/{payment.reference}")
    assert delivered(database, payment) == Delivered(OrderStatus.PENDING, [], [])


def test_a_checkout_names_each_field_that_needs_another_look(
    start_checkout: StartCheckout,
) -> None:
    for quantity in (0, MAX_STORE_QUANTITY + 1):
        with pytest.raises(FormInvalid) as refused:
            start_checkout(quantity=quantity, name=" ", email="not-an-email")
        assert refused.value.fields == {
            "quantity": "store_quantity_range",
            "name": "required",
            "email": "email_invalid",
        }


def test_a_plan_without_a_price_is_not_sold(
    start_checkout: StartCheckout, make_plan: MakePlan
) -> None:
    make_plan("internal")

    with pytest.raises(PlanNotForSale):
        start_checkout(plan="internal")


# --- settling -----------------------------------------------------------------------------------


def test_a_paid_checkout_is_delivered_once_one_code_per_unit_and_one_mail(
    start_checkout: StartCheckout, settle: Settle, database: Database, keyring: Keyring
) -> None:
    payment = start_checkout(quantity=3)

    assert settle(outcome(payment, PaymentOutcome.PAID)) == OrderStatus.PAID

    order = delivered(database, payment)
    assert order.status == OrderStatus.PAID
    assert len(order.codes) == 3
    assert {code.origin for code in order.codes} == {CodeOrigin.STORE_ORDER}
    assert {code.account_id for code in order.codes} == {None}
    [mail] = order.mails
    assert mail.template == "order_confirmation"
    assert payment.order_number in mail.subject
    text, _ = bodies(keyring, mail)
    assert text.count("Plus: ") == 3


def test_a_declined_payment_fails_the_order_with_no_codes_and_no_mail(
    start_checkout: StartCheckout, settle: Settle, database: Database
) -> None:
    payment = start_checkout()

    assert settle(outcome(payment, PaymentOutcome.FAILED)) == OrderStatus.FAILED

    assert delivered(database, payment) == Delivered(OrderStatus.FAILED, [], [])


def test_a_repeated_confirmation_changes_nothing(
    start_checkout: StartCheckout, settle: Settle, database: Database
) -> None:
    payment = start_checkout(quantity=2)
    settle(outcome(payment, PaymentOutcome.PAID))
    first = delivered(database, payment)

    settle(outcome(payment, PaymentOutcome.PAID))
    settle(outcome(payment, PaymentOutcome.FAILED))  # a stale failure cannot undo a payment

    again = delivered(database, payment)
    assert again.status == OrderStatus.PAID
    assert [code.id for code in again.codes] == [code.id for code in first.codes]
    assert len(again.mails) == 1


# SQLite runs one transaction at a time (BEGIN IMMEDIATE): there the second never overlaps
# the first, and this is the sequential case tested above.
@pytest.mark.postgres_only
def test_two_concurrent_confirmations_create_the_codes_once(
    start_checkout: StartCheckout, database: Database, open_unit: OpenUnit
) -> None:
    """The second confirmation arrives while the first one's transaction is still open:
    without the row lock on the order it would read PENDING and deliver again."""
    payment = start_checkout(quantity=2)
    result = outcome(payment, PaymentOutcome.PAID)
    assert settled_twice_at_once(open_unit, result) == []
    order = delivered(database, payment)
    assert order.status == OrderStatus.PAID
    assert len(order.codes) == 2
    assert len(order.mails) == 1


def test_a_checkout_bought_signed_in_joins_its_codes_to_the_account(
    start_checkout: StartCheckout,
    settle: Settle,
    database: Database,
    make_account: MakeAccount,
) -> None:
    customer = make_account()

    payment = start_checkout(quantity=2, email="someone-else@example.com", account_id=customer.id)
    settle(outcome(payment, PaymentOutcome.PAID))

    assert payment.customer_email == customer.email  # the account's own address
    order = delivered(database, payment)
    assert {code.account_id for code in order.codes} == {customer.id}
    assert all(code.linked_at is not None for code in order.codes)
    assert [mail.recipient for mail in order.mails] == [customer.email]


def test_a_payment_of_another_amount_delivers_nothing(
    start_checkout: StartCheckout, settle: Settle, database: Database
) -> None:
    payment = start_checkout(quantity=2)

    with pytest.raises(PaymentMismatch):
        settle(outcome(payment, PaymentOutcome.PAID, amount_cents=3999))
    with pytest.raises(PaymentMismatch):
        settle(outcome(payment, PaymentOutcome.PAID, currency="USD"))

    assert delivered(database, payment) == Delivered(OrderStatus.PENDING, [], [])


def test_after_a_decline_the_buyer_tries_again_on_the_same_order_and_number(
    start_checkout: StartCheckout, settle: Settle, database: Database, open_unit: OpenUnit
) -> None:
    declined = start_checkout(quantity=2, name="Anna Bianchi")
    settle(outcome(declined, PaymentOutcome.FAILED))
    assert delivered(database, declined).status == OrderStatus.FAILED

    with open_unit() as unit:
        again = unit.checkout.retry(declined.reference, actor="test")
    settle(outcome(again, PaymentOutcome.PAID))

    assert (again.reference, again.order_number) == (declined.reference, declined.order_number)
    assert (again.amount_cents, again.customer_email) == (2 * 3999, declined.customer_email)
    paid = delivered(database, again)
    assert (paid.status, len(paid.codes)) == (OrderStatus.PAID, 2)
    assert len(paid.mails) == 1
    assert again.order_number in paid.mails[0].subject
    with database.transaction() as session:
        orders = session.scalars(
            select(Order).where(Order.customer_email == declined.customer_email)
        ).all()
        assert [order.number for order in orders] == [declined.order_number]


# --- the test provider --------------------------------------------------------------------------


def test_the_test_card_pays_and_the_decline_card_is_declined(
    start_checkout: StartCheckout, provider: TestProvider
) -> None:
    payment = start_checkout()

    for number, expected in ((PAYS, PaymentOutcome.PAID), (DECLINED, PaymentOutcome.FAILED)):
        callback = provider.pay(
            reference=payment.reference,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            card=CardForm(number, card_expiry(), "123"),
        )
        result = provider.verify_payment(callback)
        assert (result.reference, result.outcome) == (payment.reference, expected)
        assert result.amount_cents == payment.amount_cents


def test_the_test_card_form_names_what_is_wrong() -> None:
    today = date(2026, 5, 1)

    assert card_problems(CardForm(PAYS, "5/26", "123"), today) == {}
    assert card_problems(CardForm("4111 1111 1111 1111", "4/26", "12"), today) == {
        "number": "card_not_a_test_card",
        "expiry": "card_expired",
        "cvc": "card_cvc_invalid",
    }
    assert card_problems(CardForm("4242", "13/30", ""), today) == {
        "number": "card_number_invalid",
        "expiry": "card_expiry_invalid",
        "cvc": "required",
    }


def test_a_forged_or_stale_callback_is_rejected(
    start_checkout: StartCheckout, provider: TestProvider, clock: Clock
) -> None:
    payment = start_checkout()
    genuine = provider.pay(
        reference=payment.reference,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        card=CardForm(DECLINED, card_expiry(), "123"),
    )
    event = json.loads(genuine.body)
    forged = json.dumps({**event, "outcome": "paid"}, sort_keys=True).encode()

    with pytest.raises(CallbackRejected):
        provider.verify(Callback(forged, genuine.headers))
    with pytest.raises(CallbackRejected):
        provider.verify(Callback(genuine.body, {}))
    clock.advance(timedelta(minutes=6))
    with pytest.raises(CallbackRejected):
        provider.verify(genuine)


def test_the_test_provider_refuses_an_https_server_unless_test_payments_are_allowed(
    settings: Settings, keyring: Keyring, clock: Clock, database: Database, tmp_path: Path
) -> None:
    public = settings.model_copy(update={"base_url": "https://licenses.example.com"})

    with pytest.raises(PaymentSetupError, match="LICENSOR_ALLOW_TEST_PAYMENTS"):
        load_provider(public, keyring, clock)
    staging = public.model_copy(update={"allow_test_payments": True})
    assert isinstance(load_provider(staging, keyring, clock), TestProvider)
    assert isinstance(load_provider(settings, keyring, clock), TestProvider)  # plain http

    # And so does the server itself, rather than taking fake cards from real customers.
    environment = cli_environment(tmp_path, settings.database_url)
    environment["LICENSOR_KEYS_DIR"] = str(settings.resolved_keys_dir)  # the database's keys
    environment["LICENSOR_BASE_URL"] = "https://licenses.example.com"
    started = subprocess.run(
        [str(console_script("licensor")), "serve", "--port", str(free_port())],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert "LICENSOR_ALLOW_TEST_PAYMENTS" in started.stderr


def test_an_unknown_provider_is_refused_at_start(
    settings: Settings, keyring: Keyring, clock: Clock
) -> None:
    for choice in ("stripe", "no_such_module:factory", "licensor.store.payments:nothing"):
        with pytest.raises(PaymentSetupError):
            load_provider(settings.model_copy(update={"payment_provider": choice}), keyring, clock)


# --- the webhook, over HTTP ---------------------------------------------------------------------


def test_a_webhook_callback_sent_again_and_again_delivers_once(
    start_checkout: StartCheckout,
    provider: TestProvider,
    api: httpx.Client,
    database: Database,
) -> None:
    payment = start_checkout(quantity=2)
    callback = provider.pay(
        reference=payment.reference,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        card=CardForm(PAYS, card_expiry(), "123"),
    )

    answers = [
        api.post("/api/v1/payments/test/webhook", content=callback.body, headers=callback.headers)
        for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert {answer.json()["status"] for answer in answers} == {"paid"}
    order = delivered(database, payment)
    assert (order.status, len(order.codes), len(order.mails)) == (OrderStatus.PAID, 2, 1)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_webhook_callback_is_read_whatever_type_its_provider_gives_it(
    start_checkout: StartCheckout,
    provider: TestProvider,
    api: httpx.Client,
    database: Database,
    content_type: str,
) -> None:
    # The API's JSON routes answer 415 to another type; the webhook reads its raw body,
    # which a provider may send as it likes.
    payment = start_checkout()
    callback = provider.pay(
        reference=payment.reference,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        card=CardForm(PAYS, card_expiry(), "123"),
    )

    answer = api.post(
        "/api/v1/payments/test/webhook",
        content=callback.body,
        headers={**callback.headers, "content-type": content_type},
    )

    assert answer.status_code == 200, answer.text
    assert delivered(database, payment).status == OrderStatus.PAID


def test_a_webhook_callback_with_a_bad_signature_changes_nothing(
    start_checkout: StartCheckout,
    provider: TestProvider,
    api: httpx.Client,
    database: Database,
) -> None:
    payment = start_checkout()
    body = json.dumps(
        {
            "reference": payment.reference,
            "outcome": "paid",
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
        }
    ).encode()
    wrong = "t=" + str(int(time.time())) + ",v1=" + "0" * 64

    answer = api.post(
        "/api/v1/payments/test/webhook", content=body, headers={SIGNATURE_HEADER: wrong}
    )

    assert_problem(answer, 400, "payment_callback_rejected")
    assert_problem(api.post("/api/v1/payments/stripe/webhook", content=body), 404, "not_found")
    assert delivered(database, payment).status == OrderStatus.PENDING
    with database.transaction() as session:
        assert session.scalar(select(func.count(ActivationCode.id))) == 0
