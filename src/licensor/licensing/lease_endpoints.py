"""Floating licenses' JSON API: check out, renew and check in a lease (licensing/leases.py).

Answers are signed as validation's are, with the client's nonce inside: an app that
unlocks itself on "lease held" must be able to tell a forged answer from ours."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from licensor.clock import isoformat
from licensor.deps import Keys, Work, rate_limited
from licensor.licensing.lease_schemas import LeaseIn, LeaseLimitProblem, LeaseOut
from licensor.licensing.leases import LeaseState
from licensor.licensing.signing import signed_body
from licensor.logging import log
from licensor.problems import PROBLEM, problem_responses

router = APIRouter(prefix="/api/v1/leases", tags=["leases"])

_PROBLEMS = {
    **problem_responses(403, 404, 422, 429),
    409: {"model": LeaseLimitProblem, "content": {PROBLEM: {}}},
}
_COMMON = (
    "`license_key_malformed` 422, `license_unknown` 404, `license_not_on_device` 403 (the "
    "device must hold a seat of the license: activate first), `license_not_floating` 409 "
    "(the license counts devices), `code_blocked` 403, `license_expired` 403, "
    "`validation_failed` 422, `rate_limited` 429."
)


def _signed(keys: Keys, state: LeaseState, nonce: str | None, issued_at: str | None) -> Response:
    body = {
        "public_id": state.public_id,
        "held": state.held,
        "checked_out_at": isoformat(state.checked_out_at),
        "expires_at": isoformat(state.expires_at),
        "leases_used": state.leases_used,
        "leases_max": state.leases_max,
        "lease_seconds": state.lease_seconds,
        "nonce": nonce,
        "issued_at": issued_at,
    }
    return Response(signed_body(keys, body), media_type="application/json")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LeaseOut,
    responses=_PROBLEMS,
    dependencies=[Depends(rate_limited("validation"))],
    summary="Check out a lease of a floating license for this device",
    description="The device's live lease is renewed; else one is taken if the license has "
    "one free. Problems: `lease_limit_reached` 409 (every lease is held: `retry_at` says "
    "when the soonest lapses, `retry_after` in how many seconds), " + _COMMON,
)
def checkout(body: LeaseIn, work: Work, keys: Keys) -> Response:
    with work.open() as unit:
        state = unit.leases.checkout(body.license_key, body.fingerprint)
        issued_at = isoformat(unit.now)
    log.info("licensing.lease_checked_out", public_id=state.public_id, used=state.leases_used)
    response = _signed(keys, state, body.nonce, issued_at)
    response.status_code = status.HTTP_201_CREATED
    return response


@router.post(
    "/heartbeat",
    response_model=LeaseOut,
    responses=_PROBLEMS,
    dependencies=[Depends(rate_limited("validation"))],
    summary="Renew this device's lease",
    description="A lease that lapsed is taken afresh, as a checkout (refused if the others "
    "took every lease meanwhile). Problems: `lease_not_held` 409 (the lease was checked in, "
    "or freed by the license's owner or staff: check out again), `lease_limit_reached` 409, "
    + _COMMON,
)
def heartbeat(body: LeaseIn, work: Work, keys: Keys) -> Response:
    with work.open() as unit:
        state = unit.leases.heartbeat(body.license_key, body.fingerprint)
        issued_at = isoformat(unit.now)
    return _signed(keys, state, body.nonce, issued_at)


@router.post(
    "/release",
    response_model=LeaseOut,
    responses=problem_responses(403, 404, 409, 422, 429),
    dependencies=[Depends(rate_limited("validation"))],
    summary="Check in this device's lease, so another device can take it",
    description="Checking in a lease not held changes nothing. Problems: " + _COMMON,
)
def release(body: LeaseIn, work: Work, keys: Keys) -> Response:
    with work.open() as unit:
        state = unit.leases.checkin(body.license_key, body.fingerprint)
        issued_at = isoformat(unit.now)
    log.info("licensing.lease_checked_in", public_id=state.public_id, used=state.leases_used)
    return _signed(keys, state, body.nonce, issued_at)
