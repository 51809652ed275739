"""Reserve codes' JSON API: a device adds a code in reserve for its license, or withdraws
it before it starts (licensing/reserves.py, docs/reserve-codes.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from licensor.deps import Work, rate_limited
from licensor.licensing import formats
from licensor.licensing.reserve_schemas import (
    ReserveAddedOut,
    ReserveIn,
    ReserveOut,
    WithdrawIn,
    WithdrawOut,
)
from licensor.licensing.schemas import ActivationOut
from licensor.logging import log
from licensor.problems import problem_responses

router = APIRouter(prefix="/api/v1/licenses/reserve", tags=["licensing"])

_PROVEN = (
    "`license_key_malformed` 422, `license_unknown` 404, `license_not_on_device` 403 (the "
    "device must hold a live seat of the license; it is asked before the code is looked "
    "at), `validation_failed` 422, `rate_limited` 429."
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReserveAddedOut,
    responses=problem_responses(403, 404, 409, 422, 429),
    # Counted as activations are: the code is guessed the same way.
    dependencies=[Depends(rate_limited("activation"))],
    summary="Keep a second code in reserve: it extends the license when its term ends",
    description="The license's term is extended at once by the code's plan term; the "
    "reserve starts when the current term ends (`starts_at`), and can be withdrawn until "
    "then. The code is refused as activation refuses it: `code_malformed` 422, "
    "`code_unknown` 404, `code_blocked` 403, `code_not_sold` 403, `code_reserved` 409 (in "
    "reserve already); and `code_in_use` 409 (a code that has activated), "
    "`reserve_plan_mismatch` 409 (a code of another plan), `reserve_exists` 409 (one "
    "reserve at a time), `reserve_subscription` 409, `license_expired` 403 and "
    "`code_blocked` 403 (the license itself), " + _PROVEN,
)
def add_reserve(body: ReserveIn, work: Work) -> ReserveAddedOut:
    with work.open() as unit:
        license, reserve = unit.reserves.add_from_device(
            body.license_key, body.fingerprint, body.activation_code
        )
        code = unit.reserves.reserve_code(license)
        assert code is not None
        masked = formats.mask_code(unit.codes.reveal_code(code))
        view = unit.licensing.view(license, body.fingerprint)
    log.info("licensing.reserve_added", public_id=license.public_id)
    return ReserveAddedOut(
        reserve=ReserveOut(
            code=masked,
            plan=reserve.plan,
            reserved_at=reserve.reserved_at,
            starts_at=reserve.starts_at,
            expires_at=reserve.expires_at,
            withdrawable=not reserve.started,
        ),
        license=ActivationOut.model_validate(view, from_attributes=True),
    )


@router.post(
    "/withdraw",
    response_model=WithdrawOut,
    responses=problem_responses(403, 404, 409, 422, 429),
    dependencies=[Depends(rate_limited("validation"))],
    summary="Withdraw the license's reserve code before it starts",
    description="The term loses what the code added and the code is an unused code again. "
    "Problems: `reserve_unknown` 404 (no reserve), `reserve_started` 409 (its term has "
    "begun: it is spent on this license), " + _PROVEN,
)
def withdraw_reserve(body: WithdrawIn, work: Work) -> WithdrawOut:
    with work.open() as unit:
        license = unit.reserves.withdraw_from_device(body.license_key, body.fingerprint)
        view = unit.licensing.view(license, body.fingerprint)
    log.info("licensing.reserve_withdrawn", public_id=license.public_id)
    return WithdrawOut(
        status="withdrawn", license=ActivationOut.model_validate(view, from_attributes=True)
    )
