"""``POST /api/v1/licenses/seat-release-link``: an app that met the device limit asks for
the one-time link that frees a seat, mailed to the license's owner of record
(``store/seat_release.py``). The route is the store's because the owner may be known only
by an order's address."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status

from licensor.deps import Work, client_address, limit
from licensor.licensing.schemas import SeatReleaseLinkIn, SeatReleaseLinkOut
from licensor.problems import problem_responses
from licensor.ratelimit import Rule

# Per client address, besides the store's own cap per license (LINKS_PER_DAY): each
# request may mail someone, and the code it carries may be guessed at.
SEAT_RELEASE_RULE = Rule.parse("seat_release", "5/minute")
ACCEPTED = (
    "If this license has an owner of record, a link that frees one of its seats was mailed "
    "to the owner's address. It works once, for 24 hours."
)

router = APIRouter(prefix="/api/v1", tags=["licensing"])


async def _per_address(request: Request) -> None:
    await limit(request.app.state.limiter, SEAT_RELEASE_RULE, client_address(request))


@router.post(
    "/licenses/seat-release-link",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SeatReleaseLinkOut,
    responses=problem_responses(422, 429),
    dependencies=[Depends(_per_address)],
    summary="Mail the license's owner a one-time link that frees a seat",
    description="For an app whose activation met `device_limit_reached`: send the same "
    "`activation_code` (or the `license_key`) and this device. The link goes to the "
    "address of record only (the account holding the license, else its order's address), "
    "never to one given here; at most 3 a day per license. Always 202 with the same body, "
    "whether or not the license exists, has an owner or was mailed. Problems: "
    "`code_malformed` 422 and `license_key_malformed` 422 (the check value, which is "
    "public), `validation_failed` 422, `rate_limited` 429 (5 a minute per address).",
)
def request_seat_release_link(body: SeatReleaseLinkIn, work: Work) -> SeatReleaseLinkOut:
    with work.open() as unit:
        unit.seat_release.request_link(
            activation_code=body.activation_code,
            license_key=body.license_key,
            fingerprint=body.device.fingerprint,
            device_name=body.device.name,
        )
    return SeatReleaseLinkOut(status="accepted", detail=ACCEPTED)
