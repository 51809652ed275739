"""My Account's subscriptions (F1): each subscription with its price, next charge, card and
invoices; turning renewal off and on again, changing the card on the payment provider's
page, and the app's download, whose enrollment file lets the app activate itself. Also
the test provider's page that saves a card (the card-change twin of its payment page).

These pages are in My Account but their rules are the store's, so they live here: the
accounts domain sits below the store and never asks it for anything. For the same reason
the past-due banner every My Account page shows (``account/_nav.html``) asks the store
through a template global registered here, ``past_due_plans``.

Every action redirects after its post (``?done=...`` says what was done, from a fixed
list), so a reload does nothing twice.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import pass_context
from sqlalchemy.orm import object_session

from licensor.deps import RowId
from licensor.errors import NotFound
from licensor.logging import log
from licensor.models import Account
from licensor.store.billing import SubscriptionBilling, past_due_plans
from licensor.store.payments import BillsSubscriptions, PaymentProvider, Payments
from licensor.store.testmode import CardForm, TestProvider
from licensor.store.views.catalog import money_in
from licensor.store.views.checkout import limit_checkouts
from licensor.web.access import CustomerPage, PublicPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import ENVIRONMENT, Pages, PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]
PAGE = "/account/subscriptions"
DONE = {
    "canceled": N_("Renewal is off. The license stays valid until the end of the period."),
    "resumed": N_("Renewal is on again: nothing is charged until the next renewal date."),
    "card": N_(
        "The new card is saved. If a renewal payment had failed, it is charged to the new "
        "card within a few minutes and the subscription is active again."
    ),
}
CARD_MESSAGES = {
    **FIELD_MESSAGES,
    "card_declined": N_("This card was declined; use another card."),
}


@pass_context
def _past_due_plans(context: Any) -> list[str]:
    # A template global, so that the banner needs nothing from each page's route: the
    # visitor's account was read in the page's own session, which answers this too.
    visitor = context.get("visitor")
    if visitor is None or not visitor.signed_in:
        return []
    account: Account = visitor.account
    session = object_session(account)
    return past_due_plans(session, account.id) if session is not None else []


ENVIRONMENT.globals["past_due_plans"] = _past_due_plans


def _billing(unit: PageUnit) -> SubscriptionBilling:
    return unit.service(SubscriptionBilling)


@router.get("/account/subscriptions", response_class=HTMLResponse)
def subscriptions(request: Request, page: CustomerPage, done: str = "") -> Response:
    with page.open() as unit:
        notice = DONE.get(done)
        return unit.render(
            "account/subscriptions.html",
            subscriptions=_billing(unit).summaries(unit.account),
            notice=unit._(notice) if notice else None,
            money=money_in(unit),
        )


def _tell_provider(
    page: CustomerPage, provider: PaymentProvider, subscription_id: int, *, renews: bool
) -> None:
    # A provider that bills the subscription itself is told first, outside any
    # transaction: if it cannot be told (503), nothing changes here either.
    with page.open() as unit:
        billed = _billing(unit).billed_by_provider(unit.account, subscription_id)
    if billed and isinstance(provider, BillsSubscriptions):
        provider.set_renewal(billed, renews=renews)


@router.post("/account/subscriptions/{subscription_id}/cancel", response_class=HTMLResponse)
def cancel_subscription(
    request: Request, page: CustomerPage, provider: Payments, subscription_id: RowId
) -> Response:
    _tell_provider(page, provider, subscription_id, renews=False)
    with page.open() as unit:
        unit.subscriptions.cancel(unit.account, subscription_id)
        return unit.redirect(f"{PAGE}?done=canceled")


@router.post("/account/subscriptions/{subscription_id}/resume", response_class=HTMLResponse)
def resume_subscription(
    request: Request, page: CustomerPage, provider: Payments, subscription_id: RowId
) -> Response:
    _tell_provider(page, provider, subscription_id, renews=True)
    with page.open() as unit:
        _billing(unit).resume(unit.account, subscription_id)
        return unit.redirect(f"{PAGE}?done=resumed")


@router.post("/account/subscriptions/{subscription_id}/card", response_class=HTMLResponse)
def change_card(
    request: Request, web: Pages, page: CustomerPage, provider: Payments, subscription_id: RowId
) -> Response:
    """Off to the payment provider's page that saves the new card; it comes back here.
    Limited as checkouts are: each opens a session at the provider."""
    limit_checkouts(web, request)
    with page.open() as unit:
        setup = _billing(unit).card_change(unit.account, subscription_id)
    started = provider.start_setup(setup)
    log.info("store.card_change_opened", provider=provider.name, subscription=subscription_id)
    return unit.redirect(started.redirect_url)


@router.post("/account/subscriptions/{subscription_id}/download")
def download_app(
    request: Request, web: Pages, page: CustomerPage, subscription_id: RowId
) -> Response:
    """The app's enrollment file: a one-time token the app redeems on first start (F1)."""
    with page.open() as unit:
        token = unit.subscriptions.enrollment_token(unit.account, subscription_id)
    enrollment = {
        "format": "licensor-enrollment/1",
        "server": web.settings.url("/").rstrip("/"),
        "token": token,
        "public_keys": web.keyring.public_keys_b64(),
    }
    return Response(
        json.dumps(enrollment, indent=2) + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="licensor-enrollment.json"',
            "Cache-Control": "no-store",
        },
    )


# --- the test provider's page that saves a card --------------------------------------------


def _test_provider(provider: object) -> TestProvider:
    if not isinstance(provider, TestProvider):
        raise NotFound("test payments are off on this server")
    return provider


def _card_setup_page(
    unit: PageUnit, reference: str, card: CardForm, errors: dict[str, str] | None = None
) -> Response:
    subscription = _billing(unit).card_change_of(reference)
    return unit.render(
        "store/card_test.html",
        status=422 if errors else 200,
        reference=reference,
        plan=subscription.plan,
        card=card,
        errors=errors or {},
    )


@router.get("/store/pay/test/card/{reference}", response_class=HTMLResponse)
def card_setup_page(
    request: Request, page: PublicPage, provider: Payments, reference: str
) -> Response:
    _test_provider(provider)
    with page.open() as unit:
        return _card_setup_page(unit, reference, CardForm())


@router.post("/store/pay/test/card/{reference}", response_class=HTMLResponse)
def card_setup(
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
        billing = _billing(unit)
        billing.card_change_of(reference)  # ours, unexpired, still renewing: else 404
        card = CardForm(number, expiry, cvc)

        def save() -> None:
            # As a real provider's webhook would arrive: signed, verified, then applied.
            result = test.verify_setup(test.save_card(reference=reference, card=card))
            billing.card_saved(result, actor=f"payments:{test.name}")

        return form_action(
            unit,
            save,
            done=f"{PAGE}?done=card",
            again=lambda _status, errors: _card_setup_page(unit, reference, card, errors),
            messages=CARD_MESSAGES,
        )
