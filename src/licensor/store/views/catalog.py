"""The store's catalog (F1, F2): every plan sold, and a plan's page with its buy form (codes)
and its subscribe form. The forms post to the checkout (``views/checkout.py``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.models import Account, Plan
from licensor.store.checkout import CheckoutForm
from licensor.store.orders import money
from licensor.store.payments import PaymentProvider, Payments
from licensor.web.access import PublicPage
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)


def money_in(unit: PageUnit) -> Callable[[int, str], str]:
    """Prices as the page's language writes them, for its templates."""
    return lambda cents, currency: money(cents, currency, unit.language)


def buyer(unit: PageUnit) -> Account | None:
    """The signed-in customer buying, if any."""
    return unit.visitor.account if unit.visitor.signed_in else None


@router.get("/store", response_class=HTMLResponse)
def catalog(request: Request, page: PublicPage, provider: Payments) -> Response:
    with page.open() as unit:
        return unit.render(
            "store/catalog.html",
            offers=unit.checkout.offers(),
            money=money_in(unit),
            test_mode=provider.test_mode,
        )


def plan_page(
    unit: PageUnit,
    plan: Plan,
    form: CheckoutForm,
    provider: PaymentProvider,
    errors: dict[str, str] | None = None,
    subscribe_errors: dict[str, str] | None = None,
    subscribe_name: str = "",
) -> Response:
    """A plan's page, with its forms as typed and what was wrong with them (422)."""
    customer = buyer(unit)
    subscribed = (
        customer is not None
        and plan.subscription_price_cents is not None
        and unit.checkout.live_subscription(customer, plan) is not None
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
        # Signed in, a name the account already gave is not asked again.
        account_name=unit.checkout.account_name(customer) if customer is not None else "",
        money=money_in(unit),
        test_mode=provider.test_mode,
    )


@router.get("/store/{plan_code}", response_class=HTMLResponse)
def plan(request: Request, page: PublicPage, provider: Payments, plan_code: str) -> Response:
    with page.open() as unit:
        customer = buyer(unit)
        form = CheckoutForm(email=customer.email if customer else "")
        return plan_page(unit, unit.checkout.offer(plan_code), form, provider)
