"""Licensing JSON API: activate, validate, release; the public signing keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from licensor.deps import Keys, Work, client_host, limit, rate_limited
from licensor.errors import LicensorError
from licensor.licensing.schemas import (
    ActivationIn,
    ActivationOut,
    DeviceLimitProblem,
    ReleaseIn,
    ReleaseOut,
    SigningKeysOut,
    ValidateIn,
    ValidateOut,
)
from licensor.licensing.service import DeviceInfo
from licensor.licensing.validation import Validator
from licensor.logging import log
from licensor.metrics import activation_counted
from licensor.models import LicenseStatus
from licensor.problems import PROBLEM, problem_for, problem_responses
from licensor.ratelimit import RateLimiter, Rule


@asynccontextmanager
async def _validator_closed_at_shutdown(app: FastAPI) -> AsyncIterator[None]:
    """The router's lifespan: at shutdown, the last-seen times the validator noted are
    written and its connection closed, and so are the limiter's (its API hits count on
    this event loop: ``deps.limit``)."""
    yield
    validator: Validator = app.state.validator
    await validator.close()
    limiter: RateLimiter = app.state.limiter
    await limiter.aclose()


router = APIRouter(prefix="/api/v1", tags=["licensing"], lifespan=_validator_closed_at_shutdown)


@router.post(
    "/activations",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivationOut,
    responses={
        **problem_responses(403, 404, 422, 429),
        409: {"model": DeviceLimitProblem, "content": {PROBLEM: {}}},
    },
    dependencies=[Depends(rate_limited("activation"))],
    summary="Activate a code on a device",
    description="Problems: `code_malformed` 422 (the code fails its check value), "
    "`code_unknown` 404, `code_blocked` 403, `code_not_sold` 403 (a code of a partner's "
    "allocation or of a card batch sold at the till, whose sale is not recorded yet: the "
    "shop must record it first, through the partner API or the vendor's back office; only "
    "the first activation asks), `license_expired` 403, `device_limit_reached` 409 (with "
    "the license's devices and the ways to free a seat: `free_seat_url`, and "
    "`release_link_url` when `release_link_available`), `transfer_limit_reached` 409 (the "
    "plan's cap on moving seats to new devices is used up for now: `retry_at` says when the "
    "next move is allowed, `retry_after` in how many seconds), `validation_failed` 422, "
    "`rate_limited` 429.",
)
def activate(body: ActivationIn, work: Work) -> ActivationOut:
    device = DeviceInfo(
        body.device.fingerprint,
        body.device.name,
        body.device.platform,
        body.device.key_bytes,
        body.device.components,
    )
    with activation_counted(), work.open() as unit:
        view = unit.licensing.activate(body.activation_code, device)
    log.info("licensing.activated", public_id=view.public_id, devices_used=view.devices_used)
    return ActivationOut.model_validate(view, from_attributes=True)


@router.post(
    "/licenses/validate",
    response_model=ValidateOut,
    responses=problem_responses(422, 429),
    dependencies=[Depends(rate_limited("validation", fail_open=True))],
    summary="Check a license on a device; the answer is signed",
    description="Always a signed 200 whose `status` says why a license is not valid. "
    "Problems: `validation_failed` 422 (a body that is not of this shape), "
    "`unsupported_media_type` 415 (a body not sent as `application/json`, as on every JSON "
    "route), `rate_limited` 429 (with Retry-After). "
    "When the rate-limit store is away, validation is let through.",
)
async def validate(body: ValidateIn, request: Request) -> Response:
    """The documented route: FastValidation answers in its stead (docs/adr/0003), and
    hands it every request it does not take; with LICENSOR_VALIDATION_FAST_PATH=off it
    answers them all. Both give the same answers (tests/licensing/test_validation_path.py)."""
    validator: Validator = request.app.state.validator
    answer = await validator.answer(body.license_key, body.fingerprint, body.nonce, body.components)
    return Response(answer, media_type="application/json")


VALIDATE_PATH = f"{router.prefix}/licenses/validate"
_JSON = b"application/json"
_ANSWER_HEADERS = [(b"content-type", _JSON)]


class FastValidation:
    """``POST /api/v1/licenses/validate`` without FastAPI's per-request machinery.

    The hottest route (docs/adr/0003), called by the app inside its edge and idempotency
    layers but before its middleware stack. It takes a request the documented route would
    answer with a validation: a body sent as ``application/json`` that parses into
    ``ValidateIn``; it counts the same rate-limit hit (``deps.limit``), renders a refusal
    through the same ``problems.problem_for`` and asks the same ``Validator``. Any other
    request (another content type, a body of the wrong shape) goes on to the documented
    route with its body, so that every 415 and 422 is the documented route's own.
    """

    def __init__(
        self,
        state: Any,
        documented: ASGIApp,
        crash: Callable[[Exception], Response],
    ) -> None:
        self.state = state
        self.validator: Validator = state.validator
        self.rule: Rule = state.rules["validation"]
        self.documented = documented
        self.crash = crash

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        request = _parsed(scope, body)
        if request is None:
            await self.documented(scope, _replay(body), send)
            return
        try:
            # A store that is down lets validation through (fail open): an app checking
            # a license it holds guesses nothing, and must keep working.
            await limit(self.state.limiter, self.rule, client_host(scope), fail_open=True)
            answer = await self.validator.answer(
                request.license_key, request.fingerprint, request.nonce, request.components
            )
        except LicensorError as error:
            await problem_for(error)(scope, receive, send)
            return
        except Exception as error:
            await self.crash(error)(scope, receive, send)
            return
        headers = [(b"content-length", str(len(answer)).encode()), *_ANSWER_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


def _parsed(scope: Scope, body: bytes) -> ValidateIn | None:
    """The request, if it is JSON of the right shape; else None (the documented route's)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            if value != _JSON:
                return None  # FastAPI's route reads the type's parameters and +json ones
            try:
                return ValidateIn.model_validate_json(body)
            except ValidationError:
                return None
    return None


async def _read_body(receive: Receive) -> bytes:
    # A refusal by the edge while the body streams in (too large, a NUL) is raised here
    # and answered by the edge itself.
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """``receive`` giving the documented route the body already read."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


@router.post(
    "/activations/release",
    response_model=ReleaseOut,
    responses=problem_responses(404, 422, 429),
    dependencies=[Depends(rate_limited("validation"))],
    summary="Release this device's seat so the license can move to another device",
)
def release(body: ReleaseIn, work: Work) -> ReleaseOut:
    with work.open() as unit:
        seats = unit.licensing.release(body.license_key, body.fingerprint, body.components)
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
