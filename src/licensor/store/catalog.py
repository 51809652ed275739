"""Store pages (F1, F2): the catalog, a plan's buy and subscribe forms, the test provider's
card page, the pages a buyer comes back to; and the webhook a payment provider calls.

Routes stay thin (rules in ``checkout.py``). The payment is opened with the provider after
the order's transaction commits, so the provider's page always refers to an order we
have saved; the outcome only ever arrives as a verified callback (docs/payments.md).
Every form has its CSRF field; none needs JavaScript.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from licensor.deps import client_address
from licensor.errors import FormInvalid, NotFound
from licensor.logging import log
from licensor.models import Account, ItemKind, Order, OrderStatus, Plan
from licensor.ratelimit import Rule, enforce
from licensor.store.checkout import AlreadySubscribed, Checkout, CheckoutForm
from licensor.store.payments import (
    Callback,
    CardForm,
    PaymentProvider,
    PaymentRequest,
    TestProvider,
    load_provider,
)
from licensor.store.service import Store, money
from licensor.units import open_unit
from licensor.web.access import PublicPage
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit, Web, sign_in_location


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # At start, so a server with a missing provider, or the test one behind https, refuses
    # to start rather than failing its first customer.
    state = app.state
    state.payment_provider = load_provider(state.settings, state.keyring, state.clock)
    yield


router = APIRouter(include_in_schema=False, lifespan=_lifespan)

Field = Annotated[str, Form()]


async def _provider(request: Request) -> PaymentProvider:
    state = request.app.state
    provider: PaymentProvider | None = getattr(state, "payment_provider", None)
    if provider is None:  # an app served without its lifespan (the tests)
        provider = state.payment_provider = load_provider(
            state.settings, state.keyring, state.clock
        )
    return provider


async def _web_state(request: Request) -> Web:
    # Not ``Pages``: that reads a form body, and a webhook's signature is over the raw body.
    web: Web = request.app.state.web
    return web


Payments = Annotated[PaymentProvider, Depends(_provider)]
ProviderCallbacks = Annotated[Web, Depends(_web_state)]


# --- helpers ------------------------------------------------------------------------------


def _money(unit: PageUnit) -> Callable[[int, str], str]:
    return lambda cents, currency: money(cents, currency, unit.language)


def _checkout(unit: PageUnit) -> Checkout:
    return unit.checkout


def _store(unit: PageUnit) -> Store:
    return unit.store


def _buyer(unit: PageUnit) -> Account | None:
    return unit.visitor.account if unit.visitor.signed_in else None


def _actor(request: Request, account: Account | None) -> str:
    return f"account:{account.id}" if account is not None else f"web:{client_address(request)}"


@lru_cache
def _checkout_rule(rate: str) -> Rule:
    return Rule.parse("checkout", rate)


def _limit_checkouts(web: Web, request: Request) -> None:
    enforce(web.limiter, _checkout_rule(web.settings.checkout_rate), client_address(request))


def _messages(unit: PageUnit, fields: dict[str, str]) -> dict[str, str]:
    return unit.field_messages(fields, FIELD_MESSAGES)


def _open_payment(unit: PageUnit, provider: PaymentProvider, payment: PaymentRequest) -> Response:
    """Send the buyer to the provider's page (called after the order is committed)."""
    started = provider.start(payment)
    log.info(
        "store.payment_opened",
        provider=provider.name,
        number=payment.order_number,
        provider_payment_id=started.provider_payment_id,
    )
    return unit.redirect(started.redirect_url)


def _test_provider(provider: PaymentProvider) -> TestProvider:
    if not isinstance(provider, TestProvider):
        raise NotFound("test payments are off on this server")
    return provider


def _status_path(reference: str) -> str:
    return f"/store/orders/{reference}"


# --- the catalog and the buy form ---------------------------------------------------------


@router.get("/store", response_class=HTMLResponse)
def catalog(request: Request, page: PublicPage, provider: Payments) -> Response:
    with page.open() as unit:
        return unit.render(
            "store/catalog.html",
            offers=_checkout(unit).offers(),
            money=_money(unit),
            test_mode=provider.test_mode,
        )


def _buy_page(
    unit: PageUnit,
    plan: Plan,
    form: CheckoutForm,
    provider: PaymentProvider,
    errors: dict[str, str] | None = None,
    subscribe_errors: dict[str, str] | None = None,
    subscribe_name: str = "",
) -> Response:
    buyer = _buyer(unit)
    subscribed = (
        buyer is not None
        and plan.subscription_price_cents is not None
        and _checkout(unit).live_subscription(buyer, plan) is not None
    )
    return unit.render(
        "store/plan.html",
        status=422 if errors or subscribe_errors else 200,
        plan=plan,
        form=form,
        errors=errors or {},
        subscribe_errors=subscribe_errors or {},
        subscribe_name=subscribe_name,
        subscribed=subscribed,
        money=_money(unit),
        test_mode=provider.test_mode,
    )


@router.get("/store/{plan_code}", response_class=HTMLResponse)
def plan_page(request: Request, page: PublicPage, provider: Payments, plan_code: str) -> Response:
    with page.open() as unit:
        buyer = _buyer(unit)
        form = CheckoutForm(email=buyer.email if buyer else "")
        return _buy_page(unit, _checkout(unit).offer(plan_code), form, provider)


@router.post("/store/{plan_code}/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    web: Pages,
    page: PublicPage,
    provider: Payments,
    plan_code: str,
    name: Field = "",
) -> Response:
    """Subscribe to a plan (F1): for a signed-in customer only; a visitor is sent to sign
    in (or sign up) and comes back to the plan's page, with no order made."""
    _limit_checkouts(web, request)
    with page.open() as unit:
        checkout = _checkout(unit)
        plan = checkout.offer(plan_code, ItemKind.SUBSCRIPTION)
        buyer = _buyer(unit)
        if buyer is None:
            return unit.redirect(sign_in_location(f"/store/{plan.code}"))
        try:
            payment = checkout.subscribe(
                plan.code,
                name=name,
                account=buyer,
                language=unit.language,
                actor=_actor(request, buyer),
            )
        except FormInvalid as error:
            form = CheckoutForm(email=buyer.email)
            return _buy_page(
                unit,
                plan,
                form,
                provider,
                subscribe_errors=_messages(unit, error.fields),
                subscribe_name=name,
            )
        except AlreadySubscribed:
            return _buy_page(unit, plan, CheckoutForm(email=buyer.email), provider)
    return _open_payment(unit, provider, payment)


@router.post("/store/{plan_code}", response_class=HTMLResponse)
def buy(
    request: Request,
    web: Pages,
    page: PublicPage,
    provider: Payments,
    plan_code: str,
    quantity: Field = "1",
    name: Field = "",
    email: Field = "",
) -> Response:
    _limit_checkouts(web, request)
    with page.open() as unit:
        checkout = _checkout(unit)
        buyer = _buyer(unit)
        form = CheckoutForm(quantity, name, buyer.email if buyer else email)
        try:
            payment = checkout.start(
                plan_code,
                form,
                account=buyer,
                language=unit.language,
                actor=_actor(request, buyer),
            )
        except FormInvalid as error:
            plan = checkout.offer(plan_code, ItemKind.CODE)
            return _buy_page(unit, plan, form, provider, _messages(unit, error.fields))
    return _open_payment(unit, provider, payment)


# --- the test provider's card page --------------------------------------------------------


def _card_page(
    unit: PageUnit,
    order: Order,
    card: CardForm,
    errors: dict[str, str] | None = None,
) -> Response:
    item = order.items[0]
    return unit.render(
        "store/pay_test.html",
        status=422 if errors else 200,
        order=order,
        plan=item.plan,
        quantity=item.quantity,
        subscription=item.kind == ItemKind.SUBSCRIPTION,
        card=card,
        errors=errors or {},
        money=_money(unit),
    )


@router.get("/store/pay/test/{reference}", response_class=HTMLResponse)
def card_page(request: Request, page: PublicPage, provider: Payments, reference: str) -> Response:
    _test_provider(provider)
    with page.open() as unit:
        order = _checkout(unit).order(reference)
        if order.status != OrderStatus.PENDING:
            return unit.redirect(_status_path(reference))
        return _card_page(unit, order, CardForm())


@router.post("/store/pay/test/{reference}", response_class=HTMLResponse)
def card_payment(
    request: Request,
    page: PublicPage,
    provider: Payments,
    reference: str,
    number: Field = "",
    expiry: Field = "",
    cvc: Field = "",
) -> Response:
    test = _test_provider(provider)
    with page.open() as unit:
        checkout = _checkout(unit)
        order = checkout.order(reference)
        if order.status != OrderStatus.PENDING:
            return unit.redirect(_status_path(reference))
        card = CardForm(number, expiry, cvc)
        try:
            callback = test.pay(
                reference=reference,
                amount_cents=order.total_cents,
                currency=order.currency,
                card=card,
                # What the provider was asked for when the payment was opened.
                save_payment_method=checkout.payment_request(order).save_payment_method,
            )
        except FormInvalid as error:
            return _card_page(unit, order, card, _messages(unit, error.fields))
        # As a real provider's webhook would arrive: signed, verified, then settled.
        checkout.settle(test.verify(callback), actor=f"payments:{test.name}")
        return unit.redirect(_status_path(reference))


# --- back from the provider ---------------------------------------------------------------


@router.get("/store/orders/{reference}", response_class=HTMLResponse)
def order_status(request: Request, web: Pages, page: PublicPage, reference: str) -> Response:
    """Where the provider sends the buyer back. It shows what the verified callbacks
    decided; coming back here decides nothing."""
    with page.open() as unit:
        order = _checkout(unit).order(reference)
        if order.status == OrderStatus.PAID:
            return unit.redirect(f"{_status_path(reference)}/thanks")
        item = order.items[0]
        response = unit.render(
            "store/order_status.html",
            order=order,
            reference=reference,
            plan=item.plan,
            subscription=item.kind == ItemKind.SUBSCRIPTION,
        )
        if order.status == OrderStatus.PENDING:
            response.headers["Refresh"] = "5"  # look again, without JavaScript
        return response


@router.get("/store/orders/{reference}/thanks", response_class=HTMLResponse)
def thanks(request: Request, web: Pages, page: PublicPage, reference: str) -> Response:
    with page.open() as unit:
        order = _checkout(unit).order(reference)
        if order.status != OrderStatus.PAID:
            return unit.redirect(_status_path(reference))
        buyer = _buyer(unit)
        item = order.items[0]
        return unit.render(
            "store/thanks.html",
            order=order,
            plan=item.plan,
            quantity=item.quantity,
            subscription=_store(unit).order_subscription(order),
            in_account=buyer is not None and order.account_id == buyer.id,
            money=_money(unit),
        )


@router.post("/store/orders/{reference}/retry", response_class=HTMLResponse)
def retry(
    request: Request, web: Pages, page: PublicPage, provider: Payments, reference: str
) -> Response:
    """Pay again after a declined payment (a new order), or go back to a pending one's page."""
    _limit_checkouts(web, request)
    with page.open() as unit:
        checkout = _checkout(unit)
        if checkout.order(reference).status == OrderStatus.PAID:
            return unit.redirect(f"{_status_path(reference)}/thanks")
        payment = checkout.retry(reference, actor=_actor(request, _buyer(unit)))
    return _open_payment(unit, provider, payment)


# --- the provider's webhook ---------------------------------------------------------------


@router.post("/api/v1/payments/{provider_name}/webhook")
async def webhook(
    request: Request, web: ProviderCallbacks, provider: Payments, provider_name: str
) -> Response:
    """A provider tells us how a payment ended. Verified by the provider's signature; the
    same callback may come any number of times."""
    if provider_name != provider.name:
        raise NotFound("there is no such payment provider here")
    callback = Callback(
        body=await request.body(),
        headers={name.lower(): value for name, value in request.headers.items()},
    )
    answer = await run_in_threadpool(_settle_callback, web, provider, callback)
    return JSONResponse(answer)


def _settle_callback(web: Web, provider: PaymentProvider, callback: Callback) -> dict[str, str]:
    # Verified before the transaction: a provider may ask its own API to confirm.
    result = provider.verify(callback)
    if result is None:
        return {"status": "ignored"}
    with open_unit(web.database, web.keyring, web.settings, web.now) as unit:
        order = unit.checkout.settle(result, actor=f"payments:{provider.name}")
        return {"reference": result.reference, "status": order.status}
