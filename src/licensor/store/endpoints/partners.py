"""The partner API: a reseller records the sales it makes from its allocations, reads its
orders back and sees its allocations. Authenticated with the partner's API key
(``Authorization: Bearer lp_<prefix>_<secret>``); a partner sees only its own."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from licensor.deps import Work, client_address
from licensor.errors import (
    FormInvalid,
    InvalidPartnerKey,
    OrderUnknown,
    PartnerKeyRefused,
    RateLimited,
    ValidationFailed,
)
from licensor.licensing import formats
from licensor.logging import log
from licensor.models import Order, Partner
from licensor.problems import problem_responses
from licensor.ratelimit import RateLimiter, Rule, enforce
from licensor.store.orders import Orders
from licensor.store.partners import Partners
from licensor.store.schemas import (
    AllocationOut,
    AllocationsOut,
    CustomerOut,
    PartnerOrderOut,
    PartnerSaleIn,
)

router = APIRouter(prefix="/api/v1/partner", tags=["partners"])

# What ``Partners.create_key`` makes; anything else is refused without a database query.
_KEY = re.compile(r"^lp_([0-9a-f]{8})_[A-Za-z0-9_\-]{20,100}$")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PartnerApiKey",
    description="The partner's API key: `Authorization: Bearer lp_<prefix>_<secret>`.",
)


@dataclass(frozen=True)
class PartnerCaller:
    """A request presenting a well-formed partner key, not yet checked: the key is proven
    inside the route's own transaction (docs/adr/0001), where ``authenticate`` also
    records its use.

    Only a proven key's requests count against its quota; a wrong secret counts against
    the address that sent it. A key's prefix is public (it is in the key's first
    characters, in logs, on screens), so counting unproven requests per key would let
    anyone spend a partner's quota and shut the partner out.
    """

    key: str
    prefix: str
    address: str
    limiter: RateLimiter
    rule: Rule

    def authenticate(self, partners: Partners) -> Partner:
        try:
            partner = partners.authenticate(self.key)
        except InvalidPartnerKey:
            # Over the address's limit of failures the refusal becomes a 429.
            enforce(self.limiter, self.rule, f"failed:{self.address}")
            raise PartnerKeyRefused() from None
        enforce(self.limiter, self.rule, f"key:{self.prefix}")
        return partner


def _failed_before(limiter: RateLimiter, rule: Rule, address: str) -> None:
    """An address over its limit of failures is refused before its key is looked at."""
    retry_after = limiter.peek(rule, f"failed:{address}")
    if retry_after is not None:
        raise RateLimited(retry_after)


async def _partner_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> PartnerCaller:
    """Parse the bearer key, before any database work. A missing or malformed key is a
    failure of the address; an address with too many failures is refused (429) before
    its key is tried, so guessing a secret cannot go on from there."""
    limiter: RateLimiter = request.app.state.limiter
    rule: Rule = request.app.state.rules["partner"]
    address = client_address(request)
    match = _KEY.match(credentials.credentials.strip()) if credentials else None
    if limiter.blocking:  # a network store (Redis) must not stall the event loop
        if match is None:
            await run_in_threadpool(enforce, limiter, rule, f"failed:{address}")
        else:
            await run_in_threadpool(_failed_before, limiter, rule, address)
    elif match is None:
        enforce(limiter, rule, f"failed:{address}")
    else:
        _failed_before(limiter, rule, address)
    if match is None:
        raise PartnerKeyRefused()
    return PartnerCaller(match.group(0), match.group(1), address, limiter, rule)


# The partner API's caller: a key to prove in the route's transaction.
PartnerClient = Annotated[PartnerCaller, Depends(_partner_caller)]


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerOrderOut,
    responses=problem_responses(401, 404, 409, 422, 429),
    summary="Record a sale made from your allocation",
    description="Codes of your allocations, and cards of the vendor's till batches that "
    "belong to no partner, activate only once their sale is recorded here (until then "
    "activation answers `code_not_sold` 403). "
    "Problems: `code_malformed` 422 (a code fails its check value), "
    "`code_not_allocated` 404 (not in your allocation), `code_unavailable` 409 (already "
    "sold or blocked), `order_exists` 409 (this number is already recorded), "
    "`validation_failed` 422 (with `errors`, one per field), `invalid_api_key` 401, "
    "`rate_limited` 429.",
)
def record_sale(body: PartnerSaleIn, caller: PartnerClient, work: Work) -> PartnerOrderOut:
    try:
        with work.open() as unit:
            partner = caller.authenticate(unit.partners)
            order = unit.partner_sales.record(
                partner,
                number=body.number,
                purchased_at=body.purchased_at,
                name=body.customer.name,
                email=body.customer.email,
                codes=body.codes,
            )
            answer = _order_out(unit.orders, order)
    except FormInvalid as error:
        # The same shape as a request Pydantic refused: one entry per field.
        raise ValidationFailed(
            errors=[{"field": field, "message": problem} for field, problem in error.fields.items()]
        ) from None
    log.info(
        "store.partner_sale_recorded",
        partner=partner.slug,
        number=order.number,
        codes=len(answer.codes),
    )
    return answer


@router.get(
    "/orders/{number}",
    response_model=PartnerOrderOut,
    responses=problem_responses(401, 404, 429),
    summary="One of your orders, by its number",
    description="`order_unknown` 404 when you have recorded no order with this number.",
)
def get_order(number: str, caller: PartnerClient, work: Work) -> PartnerOrderOut:
    with work.open() as unit:
        partner = caller.authenticate(unit.partners)
        # Only this partner's orders are searched: another's is as missing as none at all.
        order = unit.orders.find(number, partner)
        if order is None:
            raise OrderUnknown()
        return _order_out(unit.orders, order)


@router.get(
    "/allocations",
    response_model=AllocationsOut,
    responses=problem_responses(401, 429),
    summary="Your allocations: the batches of codes you sell, and how many are sold",
)
def list_allocations(caller: PartnerClient, work: Work) -> AllocationsOut:
    with work.open() as unit:
        partners = unit.partners
        allocations = partners.allocations(caller.authenticate(partners))
        return AllocationsOut(
            allocations=[
                AllocationOut.model_validate(allocation, from_attributes=True)
                for allocation in allocations
            ]
        )


def _order_out(orders: Orders, order: Order) -> PartnerOrderOut:
    return PartnerOrderOut(
        number=order.number,
        purchased_at=order.purchased_at.astimezone(UTC),  # as read back, whatever was sent
        channel=order.channel,
        codes=[formats.mask_code(code) for _plan, code in orders.codes(order)],
        customer=CustomerOut(name=order.customer_name, email=order.customer_email),
    )
