"""Licensing JSON API: activate, validate, release; the public signing keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from licensor.clock import isoformat
from licensor.deps import AppSettings, Db, Keys, Now, rate_limited
from licensor.licensing.schemas import (
    ActivationIn,
    ActivationOut,
    Problem,
    ReleaseIn,
    ReleaseOut,
    SigningKeysOut,
    ValidateIn,
    ValidateOut,
)
from licensor.licensing.service import DeviceInfo, LicenseStatus, Licensing
from licensor.licensing.signing import signed_body
from licensor.logging import log

router = APIRouter(prefix="/api/v1", tags=["licensing"])

PROBLEM = "application/problem+json"


def _problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": Problem, "content": {PROBLEM: {}}} for code in statuses}


@router.post(
    "/activations",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivationOut,
    responses=_problems(403, 404, 409, 422, 429),
    dependencies=[Depends(rate_limited("activation"))],
    summary="Activate a code on a device",
)
def activate(
    body: ActivationIn, database: Db, keyring: Keys, settings: AppSettings, now: Now
) -> ActivationOut:
    device = DeviceInfo(body.device.fingerprint, body.device.name, body.device.platform)
    with database.transaction() as session:
        view = Licensing(session, keyring, settings, now).activate(body.activation_code, device)
    log.info("licensing.activated", public_id=view.public_id, devices_used=view.devices_used)
    return ActivationOut.model_validate(view, from_attributes=True)


@router.post(
    "/licenses/validate",
    response_model=ValidateOut,
    responses=_problems(422, 429),
    dependencies=[Depends(rate_limited("validation"))],
    summary="Check a license on a device; the answer is signed",
)
def validate(
    body: ValidateIn, database: Db, keyring: Keys, settings: AppSettings, now: Now
) -> Response:
    with database.transaction() as session:
        licensing = Licensing(session, keyring, settings, now)
        answer = licensing.validate(body.license_key, body.fingerprint)
    answer["nonce"] = body.nonce
    answer["issued_at"] = isoformat(now)
    return Response(signed_body(keyring, answer), media_type="application/json")


@router.post(
    "/activations/release",
    response_model=ReleaseOut,
    responses=_problems(404, 422, 429),
    dependencies=[Depends(rate_limited("validation"))],
    summary="Release this device's seat so the license can move to another device",
)
def release(
    body: ReleaseIn, database: Db, keyring: Keys, settings: AppSettings, now: Now
) -> ReleaseOut:
    with database.transaction() as session:
        licensing = Licensing(session, keyring, settings, now)
        seats = licensing.release(body.license_key, body.fingerprint)
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
