"""The webhook a merchant-of-record store (Paddle Billing, Lemon Squeezy, FastSpring)
calls when one of its orders is paid or refunded (docs/payments.md).

The store, not the buyer, is the caller: nothing here trusts the body before the store's
signature over the raw bytes is proven, and the same delivery may arrive any number of
times, or twice at once; each event is acted on once, in the transaction that records it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from licensor.deps import Units, Work
from licensor.errors import NotFound
from licensor.logging import log
from licensor.store.fulfilment import Fulfilment, fastspring, read_delivery, webhook_secret

router = APIRouter(include_in_schema=False)


@router.post("/api/v1/fulfilment/{provider}/webhook")
async def fulfilment_webhook(provider: str, request: Request, work: Work) -> JSONResponse:
    """A store's paid order becomes ours (codes made and mailed); its refund blocks them.
    Answers 200 with what each event did; 400 ``fulfilment_webhook_rejected`` unsigned or
    stale; 404 for a store not configured here."""
    if webhook_secret(work.settings, provider) is None:
        raise NotFound("there is no such store's webhook here")
    body = await request.body()
    headers = {name.lower(): value for name, value in request.headers.items()}
    answer = await run_in_threadpool(_fulfil, work, provider, body, headers)
    return JSONResponse(answer)


def _fulfil(work: Units, provider: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    try:
        events = read_delivery(provider, body, headers, work.settings, work.now)
    except Exception as error:
        log.warning("store.fulfilment_refused", provider=provider, error=str(error))
        raise
    with work.open() as unit:
        outcomes = unit.service(Fulfilment).apply(provider, events)
    return {"provider": provider, "events": [outcome.as_json() for outcome in outcomes]}


@router.post("/api/v1/fulfilment/fastspring/license/{product}")
async def fastspring_license(product: str, request: Request, work: Work) -> PlainTextResponse:
    """FastSpring's remote license generator: the order's codes, one a line, for FastSpring
    to show on its receipt; no mail from us. Signed with the generator's private key."""
    private_key = work.settings.fastspring_license_key
    if not private_key:
        raise NotFound("there is no FastSpring license generator here")
    fields = {
        name: value for name, value in (await request.form()).items() if isinstance(value, str)
    }
    codes = await run_in_threadpool(_hand_back, work, product, fields, private_key)
    return PlainTextResponse("\n".join(codes), headers={"Cache-Control": "no-store"})


def _hand_back(work: Units, product: str, fields: dict[str, str], private_key: str) -> list[str]:
    try:
        fastspring.verify_license_request(fields, private_key)
        sale = fastspring.read_license_request(fields, product)
    except Exception as error:
        log.warning("store.fulfilment_refused", provider="fastspring", error=str(error))
        raise
    with work.open() as unit:
        return unit.service(Fulfilment).hand_back("fastspring", sale)
