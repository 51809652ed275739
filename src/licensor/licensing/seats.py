"""A license's live seats as its owner chooses among them, and the refusal an activation
gets at the device limit (issue 14, item 12: seats full, self-service).

Whoever activates a code has proven they hold it, so the 409 ``device_limit_reached``
names the license's devices (their names, platforms and when they were last seen) and
the two ways forward: My Account's Devices page for a signed-in owner, and a one-time link
mailed to the owner's address of record (``store/seat_release.py``). It never names an
email, an account or an order: only whether such an address exists, so the app knows
whether to offer the link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from licensor.errors import DeviceLimitReached
from licensor.keys import Keyring, b64url
from licensor.models import Activation, ActivationCode, Device, License, Subscription

SEAT_REFERENCE_PURPOSE = b"seat_reference"
# Where a signed-in owner frees a seat (accounts' Devices page), and where the app asks
# for the mailed link: both said in the refusal.
DEVICES_PATH = "/account/devices"
RELEASE_LINK_PATH = "/api/v1/licenses/seat-release-link"


@dataclass(frozen=True)
class Seat:
    """A live seat of a license, as its owner sees it to choose one to free."""

    activation_id: int
    reference: str  # opaque and stable: tells seats apart without giving away an id
    name: str
    platform: str
    activated_at: datetime
    last_seen_at: datetime

    def as_problem_member(self) -> dict[str, str]:
        return {
            "seat": self.reference,
            "name": self.name,
            "platform": self.platform,
            "activated_at": iso_time(self.activated_at),
            "last_seen_at": iso_time(self.last_seen_at),
        }


def iso_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as the API's own answers spell times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def devices_limit(license: License) -> int:
    """How many devices the license may be on at once: its own limit, set by an admin after
    purchase (issue 16, item 10), else its plan's."""
    return license.devices_max if license.devices_max is not None else license.plan.devices_max


def seat_reference(keyring: Keyring, activation_id: int) -> str:
    """An opaque reference to a seat: a keyed hash of its id, so that counting seats or
    guessing neighbours learns nothing."""
    return "seat_" + b64url(keyring.blind_index(str(activation_id), purpose=SEAT_REFERENCE_PURPOSE))


def seat_device_name(
    device: Device, *, owner_account_id: int | None, viewer_account_id: int | None = None
) -> str:
    """What a page or answer about a license calls a device holding one of its seats.

    The name an account gave the device (``display_name``) is that account's: it is shown
    only where the device is connected to that account and that account is the one
    looking or the license's owner. Everyone else sees the name the app reports: a seat
    on a machine says nothing about its owner's names to the holder of another license."""
    named_by = device.account_id
    if (
        device.display_name
        and named_by is not None
        and named_by in (owner_account_id, viewer_account_id)
    ):
        return device.display_name
    return device.name or "\u2014"


def live_seats(
    session: Session, keyring: Keyring, license_id: int, *, owner_account_id: int | None
) -> list[Seat]:
    """The license's live seats, the most recently seen first. A device is named as
    ``seat_device_name`` says for the license's owner (``owner_account_id``, from
    ``owner_of_record``); it was last seen at its latest activation or validation of any
    license."""
    rows = session.execute(
        select(Activation, Device)
        .join(Device, Device.id == Activation.device_id)
        .where(Activation.license_id == license_id, Activation.released_at.is_(None))
        .order_by(Activation.id)
    ).all()
    seats = [
        Seat(
            activation_id=seat.id,
            reference=seat_reference(keyring, seat.id),
            name=seat_device_name(device, owner_account_id=owner_account_id),
            platform=device.platform,
            activated_at=seat.activated_at,
            last_seen_at=max(seat.last_validated_at, device.last_seen_at),
        )
        for seat, device in rows
    ]
    return sorted(seats, key=lambda seat: seat.last_seen_at, reverse=True)


def owner_of_record(session: Session, license: License) -> tuple[int | None, int | None]:
    """The account that holds the license (its code's, or its subscription's) and the
    order that delivered its code, as ids; either may be none."""
    account_id: int | None = None
    order_id: int | None = None
    if license.code_id is not None:
        row = session.execute(
            select(ActivationCode.account_id, ActivationCode.order_id).where(
                ActivationCode.id == license.code_id
            )
        ).first()
        if row is not None:
            account_id, order_id = row
    if account_id is None:
        account_id = session.scalar(
            select(Subscription.account_id).where(Subscription.license_id == license.id)
        )
    return account_id, order_id


def limit_reached(
    session: Session, keyring: Keyring, base_url: Callable[[str], str], license: License, used: int
) -> DeviceLimitReached:
    """The refusal at the device limit, with the license's devices and the ways forward
    (``base_url``: ``Settings.url``, the address customers reach us at)."""
    account_id, order_id = owner_of_record(session, license)
    seats = live_seats(session, keyring, license.id, owner_account_id=account_id)
    return DeviceLimitReached(
        f"this license is active on {used} of {devices_limit(license)} devices; free one "
        "(in its app, in My Account, or by the link we can mail to the license's owner) to "
        "use it here",
        devices_used=used,
        devices_max=devices_limit(license),
        devices=[seat.as_problem_member() for seat in seats],
        free_seat_url=base_url(DEVICES_PATH),
        # The link is asked for with the code (or key): a device refused a subscription's
        # seat holds neither, and its owner signs in instead.
        release_link_available=license.code_id is not None
        and (account_id is not None or order_id is not None),
        release_link_url=base_url(RELEASE_LINK_PATH),
    )
