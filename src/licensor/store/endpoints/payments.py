"""The webhook a payment provider calls when a payment ends (docs/payments.md).

The outcome only ever arrives here, verified by the provider's signature (or, for the test
provider, from its own card page, signed alike); the buyer coming back to our site decides
nothing. Settling is idempotent by our payment reference, so a provider may send the same
callback any number of times. A card saved for a subscription (its owner changed the card)
arrives the same way, as a ``SetupResult``; so do a provider's refunds, disputes and
subscription invoices (``store/provider_events.py``, once per event id).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from licensor.errors import NotFound
from licensor.logging import log
from licensor.store.payments import (
    BillsSubscriptions,
    Callback,
    PaymentProvider,
    Payments,
    PaymentUnavailable,
    provider_at_start,
)
from licensor.store.provider_events import ProviderEvents
from licensor.units import open_unit
from licensor.web.pages import Web

router = APIRouter(include_in_schema=False, lifespan=provider_at_start)


async def _web_state(request: Request) -> Web:
    # Not ``Pages``: that reads a form body, and a webhook's signature is over the raw body.
    web: Web = request.app.state.web
    return web


ProviderCallbacks = Annotated[Web, Depends(_web_state)]


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
    notice = provider.verify(callback)
    if notice is None:
        return {"status": "ignored"}
    with open_unit(web.database, web.keyring, web.settings, web.now) as unit:
        applied = unit.service(ProviderEvents).apply(notice, provider=provider.name)
    if applied.stop_billing and isinstance(provider, BillsSubscriptions):
        try:
            provider.set_renewal(applied.stop_billing, renews=False)
        except PaymentUnavailable:
            # Committed already, and the event will not act again: an operator must.
            log.error(
                "payments.stop_billing_failed",
                provider=provider.name,
                subscription=applied.stop_billing,
                hint="cancel the subscription in the provider's dashboard",
            )
    return applied.answer
