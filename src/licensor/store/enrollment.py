"""The app's first start after a download from My Account (F1): it redeems the one-time
enrollment token the installer carries and activates itself, no code typed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from licensor.deps import Work, rate_limited
from licensor.licensing.schemas import ActivationOut, DeviceIn
from licensor.licensing.service import DeviceInfo
from licensor.logging import log
from licensor.problems import problem_responses

router = APIRouter(prefix="/api/v1", tags=["store"])


class EnrollmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=100)
    device: DeviceIn


@router.post(
    "/enrollments",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivationOut,
    responses=problem_responses(403, 409, 410, 422, 429),
    dependencies=[Depends(rate_limited("activation"))],
    summary="Activate with the one-time token of an installer downloaded from My Account",
)
def enroll(body: EnrollmentIn, work: Work) -> ActivationOut:
    device = DeviceInfo(body.device.fingerprint, body.device.name, body.device.platform)
    with work.open() as unit:
        view = unit.subscriptions.enroll(body.token, device)
    log.info("store.enrolled", public_id=view.public_id, devices_used=view.devices_used)
    return ActivationOut.model_validate(view, from_attributes=True)
