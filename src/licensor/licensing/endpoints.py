"""Licensing JSON API: activate, validate, release; the public signing keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from licensor.deps import Keys, Work, client_address, rate_limited
from licensor.errors import RateLimited
from licensor.licensing.schemas import (
    ActivationIn,
    ActivationOut,
    ReleaseIn,
    ReleaseOut,
    SigningKeysOut,
    ValidateIn,
    ValidateOut,
)
from licensor.licensing.service import DeviceInfo
from licensor.licensing.validation import Validator
from licensor.logging import log
from licensor.models import LicenseStatus
from licensor.problems import problem_response, problem_responses
from licensor.ratelimit import enforce

router = APIRouter(prefix="/api/v1", tags=["licensing"])


@router.post(
    "/activations",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivationOut,
    responses=problem_responses(403, 404, 409, 422, 429),
    dependencies=[Depends(rate_limited("activation"))],
    summary="Activate a code on a device",
    description="Problems: `code_malformed` 422 (the code fails its check value), "
    "`code_unknown` 404, `code_blocked` 403, `code_not_sold` 403 (a code of a partner's "
    "allocation or of a card batch sold at the till, whose sale is not recorded yet: the "
    "shop must record it first, through the partner API or the vendor's back office; only "
    "the first activation asks), `license_expired` 403, `device_limit_reached` 409, "
    "`validation_failed` 422, `rate_limited` 429.",
)
def activate(body: ActivationIn, work: Work) -> ActivationOut:
    device = DeviceInfo(body.device.fingerprint, body.device.name, body.device.platform)
    with work.open() as unit:
        view = unit.licensing.activate(body.activation_code, device)
    log.info("licensing.activated", public_id=view.public_id, devices_used=view.devices_used)
    return ActivationOut.model_validate(view, from_attributes=True)


@router.post(
    "/licenses/validate",
    response_model=ValidateOut,
    responses=problem_responses(422, 429),
    dependencies=[Depends(rate_limited("validation"))],
    summary="Check a license on a device; the answer is signed",
)
def validate(body: ValidateIn, request: Request) -> Response:
    """Documents the route; requests are answered by ``validation_route`` (same answers)."""
    validator: Validator = request.app.state.validator
    answer = validator.answer(body.license_key, body.fingerprint, body.nonce)
    return Response(answer, media_type="application/json")


VALIDATE_PATH = f"{router.prefix}/licenses/validate"


def validation_endpoint(app: Any) -> Callable[[Request], Awaitable[Response]]:
    """``POST /api/v1/licenses/validate`` without FastAPI's per-request machinery.

    The hottest route (docs/adr/0003), called by the app before its middleware stack:
    parsed by the same schema, limited by the same rule, answered by the same
    ``Validator``, with the same problem+json errors. On SQLite the read runs on the event
    loop (a local file), elsewhere in the thread pool.
    """
    validator: Validator = app.state.validator
    rule = app.state.rules["validation"]

    async def endpoint(request: Request) -> Response:
        limiter = app.state.limiter
        address = client_address(request)
        try:
            # A store that is down lets validation through (fail open): an app checking
            # a license it holds guesses nothing, and must keep working.
            if limiter.blocking:
                await run_in_threadpool(enforce, limiter, rule, address, fail_open=True)
            else:
                enforce(limiter, rule, address, fail_open=True)
        except RateLimited as error:
            return problem_response(
                error.status, error.code, error.title, error.detail, error.headers()
            )
        try:
            body = ValidateIn.model_validate_json(await request.body())
        except ValidationError as error:
            return problem_response(
                422,
                "validation_failed",
                "The request is not valid",
                None,
                {},
                errors=[
                    {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
                    for e in error.errors()
                ],
            )
        if validator.runs_inline:
            answer = validator.answer(body.license_key, body.fingerprint, body.nonce)
        else:
            answer = await run_in_threadpool(
                validator.answer, body.license_key, body.fingerprint, body.nonce
            )
        return Response(answer, media_type="application/json")

    return endpoint


@router.post(
    "/activations/release",
    response_model=ReleaseOut,
    responses=problem_responses(404, 422, 429),
    dependencies=[Depends(rate_limited("validation"))],
    summary="Release this device's seat so the license can move to another device",
)
def release(body: ReleaseIn, work: Work) -> ReleaseOut:
    with work.open() as unit:
        seats = unit.licensing.release(body.license_key, body.fingerprint)
    log.info("licensing.released", public_id=seats.public_id, devices_used=seats.devices_used)
    return ReleaseOut(
        status=LicenseStatus.RELEASED,
        public_id=seats.public_id,
        devices_used=seats.devices_used,
        devices_max=seats.devices_max,
    )


@router.get("/signing-keys", response_model=SigningKeysOut, summary="Public keys for verification")
def signing_keys(keyring: Keys) -> SigningKeysOut:
    return SigningKeysOut(current=keyring.signing_key_id, keys=keyring.public_keys_b64())
