"""The app and its account's subscription: how a device gets the subscription's license with
no code typed.

- ``/enrollments`` (F1): the app's first start after a download from My Account redeems the
  one-time enrollment token the installer carries, and activates itself.
- ``/device/token`` (F10): the app connecting to an account by a short code polls here;
  once the code is entered, its licenses have joined the account, and the device takes a
  free seat on the account's subscription if it has none. Connecting is the account's
  (``unit.connect``); the seat is the store's, which is why the route lives here: the
  accounts domain sits below the store and never asks it for anything.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from licensor.accounts.schemas import DeviceTokenIn, DeviceTokenOut
from licensor.accounts.service import mask_email
from licensor.deps import Work, rate_limited
from licensor.licensing.schemas import ActivationOut, DeviceLimitProblem
from licensor.licensing.service import DeviceInfo
from licensor.logging import log
from licensor.problems import PROBLEM, problem_responses
from licensor.store.schemas import EnrollmentIn

router = APIRouter(prefix="/api/v1")


@router.post(
    "/enrollments",
    tags=["store"],
    status_code=status.HTTP_201_CREATED,
    response_model=ActivationOut,
    responses={
        **problem_responses(403, 410, 422, 429),
        409: {"model": DeviceLimitProblem, "content": {PROBLEM: {}}},
    },
    dependencies=[Depends(rate_limited("activation"))],
    summary="Activate with the one-time token of an installer downloaded from My Account",
    description="Problems: `enrollment_token_invalid` 410 (the token was used, has "
    "expired or was never given: download the app again), `code_blocked` 403 and "
    "`license_expired` 403 (the subscription's license), `device_limit_reached` 409 (with "
    "the subscription's devices and `free_seat_url`, where its owner frees a seat), "
    "`validation_failed` 422, `rate_limited` 429.",
)
def enroll(body: EnrollmentIn, work: Work) -> ActivationOut:
    device = DeviceInfo(
        body.device.fingerprint, body.device.name, body.device.platform, body.device.key_bytes
    )
    with work.open() as unit:
        view = unit.subscriptions.enroll(body.token, device)
    log.info("store.enrolled", public_id=view.public_id, devices_used=view.devices_used)
    return ActivationOut.model_validate(view, from_attributes=True)


@router.post(
    "/device/token",
    tags=["accounts"],  # where the device-connection grant is documented
    response_model=DeviceTokenOut,
    responses=problem_responses(400, 410, 422, 429),
    dependencies=[Depends(rate_limited("validation"))],
    summary="Ask whether the code was entered; 400 authorization_pending until it is",
    description="Poll every `interval` seconds (RFC 8628): `authorization_pending` 400 "
    "until the customer enters the short code in My Account; `device_code_expired` 410 "
    "once the code is spent, too old, or was never given (start again); "
    "`validation_failed` 422, `rate_limited` 429.",
)
def device_token(body: DeviceTokenIn, work: Work) -> DeviceTokenOut:
    with work.open() as unit:
        grant = unit.connect.poll(body.device_code)
        account = unit.accounts.get(grant.account_id or 0)
        linked = unit.connect.joined_public_ids(grant, account)
        device = DeviceInfo(grant.fingerprint, grant.device_name, grant.platform)
        subscribed = unit.subscriptions.seat_for_connected_device(account, device)
        return DeviceTokenOut(
            status="connected",
            account=mask_email(account.email),
            licenses_linked=linked,
            license=ActivationOut.model_validate(subscribed, from_attributes=True)
            if subscribed
            else None,
        )
