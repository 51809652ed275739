"""Family sharing's API, for the app signed in as the invitee (accounts/sharing.py): the
licenses shared with the account, and a seat of one for this device.

The account's email and password are the proof, throttled as the sign-in page and the
license link (``POST /api/v1/account/licenses``) are; the answers carry the license as a
device needs it (its key, to validate), never its activation code, which stays its
owner's.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict, Field

from licensor.accounts.throttle import SignInThrottle, SignInThrottled
from licensor.deps import Work, client_address, rate_limited
from licensor.errors import InvalidCredentials, LicensorError
from licensor.licensing.schemas import ActivationOut, DeviceIn, DeviceLimitProblem
from licensor.licensing.service import DeviceInfo
from licensor.logging import log
from licensor.models import Account
from licensor.problems import PROBLEM, problem_responses
from licensor.units import UnitOfWork

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class SharedLicensesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class SharedSeatIn(SharedLicensesIn):
    device: DeviceIn


class SharedLicenseOut(BaseModel):
    public_id: str
    plan: str = Field(description="The plan's name")
    status: str = Field(description="active, expired or blocked")
    expires_at: datetime
    devices_used: int
    devices_max: int
    shared_by: str = Field(description="The owner's email address, masked")


class SharedLicensesOut(BaseModel):
    licenses: list[SharedLicenseOut]


def _account(unit: UnitOfWork, request: Request, work: Work, body: SharedLicensesIn) -> Account:
    """The account whose email and password the body carries, under sign-in's throttle;
    a throttled request's password is not checked. Raised refusals are audited in the
    caller's unit, which the caller commits before answering them."""
    address = client_address(request)
    guard = SignInThrottle.of(request.app.state.limiter, work.keyring)
    email_key = guard.email_key(body.email)
    authentication = unit.authentication
    try:
        claimed = guard.attempt(email_key, address, known_browser=False)
        account = authentication.authenticate(
            body.email, body.password, actor=f"api:{address}", email_key=email_key
        )
    except SignInThrottled as throttled:
        authentication.auth_event(
            "accounts.sign_in_throttled",
            unit.accounts.by_email(body.email),
            f"api:{address}",
            email_key,
            stage="password",
            locked=throttled.locked,
            retry_after=throttled.retry_after,
        )
        raise
    if account.totp_secret_ciphertext or account.needs_two_factor:
        guard.give_back(claimed)  # the password alone is no full sign-in, nor a failure
    else:
        guard.succeeded(email_key, address)
    return account


@router.post(
    "/account/shared-licenses",
    response_model=SharedLicensesOut,
    responses=problem_responses(401, 422, 429),
    dependencies=[Depends(rate_limited("link"))],
    summary="The licenses shared with an account (family sharing)",
    description="The account's email and password, throttled as sign-in is "
    "(`invalid_credentials` 401, `rate_limited` 429 with `Retry-After`). Each license as "
    "the invitee's Licenses section shows it: never its activation code or key.",
)
def shared_licenses(body: SharedLicensesIn, request: Request, work: Work) -> SharedLicensesOut:
    refused: LicensorError | None = None
    rows = []
    with work.open() as unit:
        try:
            account = _account(unit, request, work, body)
        except (SignInThrottled, InvalidCredentials) as error:
            refused = error
        else:
            rows = unit.shared_licenses.shared_with(account)
    if refused is not None:
        raise refused
    return SharedLicensesOut(
        licenses=[
            SharedLicenseOut(
                public_id=row.public_id,
                plan=row.plan,
                status=row.status,
                expires_at=row.expires_at,
                devices_used=row.devices_used,
                devices_max=row.devices_max,
                shared_by=row.shared_by,
            )
            for row in rows
        ]
    )


@router.post(
    "/account/shared-licenses/{public_id}/activate",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivationOut,
    responses={
        **problem_responses(401, 403, 404, 422, 429),
        409: {"model": DeviceLimitProblem, "content": {PROBLEM: {}}},
    },
    dependencies=[Depends(rate_limited("activation"))],
    summary="Take a seat of a license shared with the account, for this device",
    description="The invitee's app: the account's email and password (throttled as "
    "sign-in is), and the device. The seat counts against the license's device limit and "
    "is freed when its owner stops sharing (the device then validates `valid: false`, "
    "reason `released`). The same device asking again keeps its seat. Problems: "
    "`invalid_credentials` 401, `license_not_shared` 404 (never shared with this account, "
    "or no longer), `code_blocked` 403, `license_expired` 403, `device_limit_reached` 409, "
    "`transfer_limit_reached` 409, `rate_limited` 429.",
)
def activate_shared(
    public_id: str, body: SharedSeatIn, request: Request, work: Work
) -> ActivationOut:
    device = DeviceInfo(
        body.device.fingerprint, body.device.name, body.device.platform, body.device.key_bytes
    )
    refused: LicensorError | None = None
    with work.open() as unit:
        try:
            account = _account(unit, request, work, body)
        except (SignInThrottled, InvalidCredentials) as error:
            refused = error
        else:
            view = unit.shared_licenses.take_seat(account, public_id, device)
    if refused is not None:
        raise refused
    log.info("accounts.shared_seat_taken", public_id=view.public_id)
    return ActivationOut.model_validate(view, from_attributes=True)
