"""The checkout's pages (F1, F2): the buy and subscribe forms' actions, the test provider's
card page, and the pages a buyer comes back to.

Routes stay thin (rules in ``store/checkout.py``). The payment is opened with the provider
after the order's transaction commits, so the provider's page always refers to an order we
have saved; the outcome only ever arrives as a verified callback (docs/payments.md), from
the providers' webhook (``store/endpoints/payments.py``) or the test card page here.
Every form has its CSRF field; none needs JavaScript.

A code checkout leaves the browser a token (``THANKS_COOKIE``, HttpOnly) so that the thanks
page shows that browser, and no other, the codes once (``Checkout.reveal_codes_once``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.deps import client_address
from licensor.errors import AlreadySubscribed, FormInvalid, NotFound
from licensor.logging import log
from licensor.models import Account, ItemKind, Order, OrderStatus
from licensor.ratelimit import Rule, enforce
from licensor.store.checkout import CheckoutForm
from licensor.store.payments import PaymentProvider, PaymentRequest, Payments
from licensor.store.testmode import CardForm, TestProvider
from licensor.store.views.catalog import buyer, money_in, plan_page
from licensor.web.access import PublicPage
from licensor.web.actions import form_action
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit, Web, sign_in_location

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


def _actor(request: Request, account: Account | None) -> str:
    return f"account:{account.id}" if account is not None else f"web:{client_address(request)}"


@lru_cache
def _checkout_rule(rate: str) -> Rule:
    return Rule.parse("checkout", rate)


def limit_checkouts(web: Web, request: Request) -> None:
    """The checkout rate (``LICENSOR_CHECKOUT_RATE``) per client address."""
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


THANKS_COOKIE = "licensor_thanks"
THANKS_COOKIE_SECURE = "__Host-licensor_thanks"  # the prefix needs Secure, so https
THANKS_COOKIE_SECONDS = 24 * 3600  # the browser that paid comes back from the provider soon


def thanks_cookie(unit: PageUnit) -> str:
    """The thanks token's cookie name for this request."""
    return THANKS_COOKIE_SECURE if unit.web.is_secure(unit.request) else THANKS_COOKIE


# --- the plan page's forms ----------------------------------------------------------------


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
    limit_checkouts(web, request)
    with page.open() as unit:
        checkout = unit.checkout
        plan = checkout.offer(plan_code, ItemKind.SUBSCRIPTION)
        customer = buyer(unit)
        if customer is None:
            return unit.redirect(sign_in_location(f"/store/{plan.code}"))
        try:
            payment = checkout.subscribe(
                plan.code,
                name=name,
                account=customer,
                language=unit.language,
                actor=_actor(request, customer),
            )
        except FormInvalid as error:
            form = CheckoutForm(email=customer.email)
            return plan_page(
                unit,
                plan,
                form,
                provider,
                subscribe_errors=_messages(unit, error.fields),
                subscribe_name=name,
            )
        except AlreadySubscribed:
            return plan_page(unit, plan, CheckoutForm(email=customer.email), provider)
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
    limit_checkouts(web, request)
    with page.open() as unit:
        checkout = unit.checkout
        customer = buyer(unit)
        form = CheckoutForm(quantity, name, customer.email if customer else email)
        try:
            payment = checkout.start(
                plan_code,
                form,
                account=customer,
                language=unit.language,
                actor=_actor(request, customer),
            )
        except FormInvalid as error:
            plan = checkout.offer(plan_code, ItemKind.CODE)
            return plan_page(unit, plan, form, provider, _messages(unit, error.fields))
        token = checkout.remember_browser(checkout.order(payment.reference))
        unit.set_cookie(thanks_cookie(unit), token, max_age=THANKS_COOKIE_SECONDS)
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
        money=money_in(unit),
    )


@router.get("/store/pay/test/{reference}", response_class=HTMLResponse)
def card_page(request: Request, page: PublicPage, provider: Payments, reference: str) -> Response:
    _test_provider(provider)
    with page.open() as unit:
        order = unit.checkout.order(reference)
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
        checkout = unit.checkout
        order = checkout.order(reference)
        if order.status != OrderStatus.PENDING:
            return unit.redirect(_status_path(reference))
        card = CardForm(number, expiry, cvc)

        def pay() -> None:
            callback = test.pay(
                reference=reference,
                amount_cents=order.total_cents,
                currency=order.currency,
                card=card,
                # What the provider was asked for when the payment was opened.
                save_payment_method=checkout.payment_request(order).save_payment_method,
            )
            # As a real provider's webhook would arrive: signed, verified, then settled.
            checkout.settle(test.verify_payment(callback), actor=f"payments:{test.name}")

        return form_action(
            unit,
            pay,
            done=_status_path(reference),
            again=lambda _status, errors: _card_page(unit, order, card, errors),
            messages=FIELD_MESSAGES,
        )


# --- back from the provider ---------------------------------------------------------------


@router.get("/store/orders/{reference}", response_class=HTMLResponse)
def order_status(request: Request, web: Pages, page: PublicPage, reference: str) -> Response:
    """Where the provider sends the buyer back. It shows what the verified callbacks
    decided; coming back here decides nothing."""
    with page.open() as unit:
        order = unit.checkout.order(reference)
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
    """The order's summary; the browser that paid sees its codes here, once."""
    with page.open() as unit:
        checkout = unit.checkout
        order = checkout.order(reference)
        if order.status != OrderStatus.PAID:
            return unit.redirect(_status_path(reference))
        customer = buyer(unit)
        cookie = thanks_cookie(unit)
        token = request.cookies.get(cookie)
        codes = checkout.reveal_codes_once(reference, token, actor=_actor(request, customer))
        if token and order.thanks_token_hash is None:
            unit.set_cookie(cookie, "")  # spent, or another order's: nothing to keep
        item = order.items[0]
        response = unit.render(
            "store/thanks.html",
            order=order,
            plan=item.plan,
            quantity=item.quantity,
            subscription=unit.orders.subscription(order),
            in_account=customer is not None and order.account_id == customer.id,
            codes=codes,
            money=money_in(unit),
        )
        response.headers["Cache-Control"] = "no-store"  # codes stay out of every cache
        return response


@router.post("/store/orders/{reference}/retry", response_class=HTMLResponse)
def retry(
    request: Request, web: Pages, page: PublicPage, provider: Payments, reference: str
) -> Response:
    """Pay again after a declined payment (the same order and number), or go back to a
    pending one's page."""
    limit_checkouts(web, request)
    with page.open() as unit:
        checkout = unit.checkout
        if checkout.order(reference).status == OrderStatus.PAID:
            return unit.redirect(f"{_status_path(reference)}/thanks")
        payment = checkout.retry(reference, actor=_actor(request, buyer(unit)))
    return _open_payment(unit, provider, payment)
