"""Transfer limits (issue 16, item 4): how often a license's seats may move between devices.

Seat cycling is how one code serves a classroom: release on one machine, activate on the
next, all day. A plan may cap it: ``transfer_limit`` transfers per ``transfer_period_days``
(both null: no cap). A transfer is an activation on a device that never held a seat of
the license, taking a seat freed within the period; the same device coming back is not
one. Support may grant a license more (``licenses.extra_transfers``).

Transfers are counted from the seats released within the period (``activations
.released_at``, read by the license's index), not kept as a counter: a release is the
event, and the count needs no upkeep. A release whose device later came back to the
license is not counted: that seat did not move. The caller holds the license locked
(activation's lock), so two devices racing for the last transfer are decided one after
the other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from licensor.errors import TransferLimitReached
from licensor.licensing.seats import iso_time
from licensor.models import Activation, Device, License


def transfer_window(license: License) -> tuple[int, timedelta] | None:
    """The transfers the license may make per period (its plan's cap and support's
    grants), and the period; None when its plan sets no cap."""
    plan = license.plan
    if plan.transfer_limit is None or not plan.transfer_period_days:
        return None
    return plan.transfer_limit + license.extra_transfers, timedelta(days=plan.transfer_period_days)


def recent_releases(session: Session, license: License, since: datetime) -> list[datetime]:
    """When the license's seats were freed since ``since``, oldest first, leaving out the
    seats whose device came back to the license afterwards."""
    later = aliased(Activation)
    came_back = exists().where(
        later.license_id == Activation.license_id,
        later.device_id == Activation.device_id,
        later.id > Activation.id,
    )
    return list(
        session.scalars(
            select(Activation.released_at)
            .where(
                Activation.license_id == license.id,
                Activation.released_at > since,
                ~came_back,
            )
            .order_by(Activation.released_at)
        )
    )


def check_transfer(session: Session, license: License, device: Device, now: datetime) -> None:
    """Refuse (409 ``transfer_limit_reached``, with when the next is allowed) a new device's
    seat that would be one transfer too many; the license is locked by the caller."""
    window = transfer_window(license)
    if window is None:
        return
    allowed, period = window
    ever_held = session.scalar(
        select(
            exists().where(Activation.license_id == license.id, Activation.device_id == device.id)
        )
    )
    if ever_held:
        return  # the same device coming back
    releases = recent_releases(session, license, now - period)
    if not releases or len(releases) <= allowed:
        return  # not a transfer (no seat was freed in the period), or one still allowed
    # Allowed again once enough of the period's releases have aged out of it.
    retry_at = releases[len(releases) - allowed - 1] + period
    retry_after = max(1, int((retry_at - now).total_seconds()))
    raise TransferLimitReached(
        f"this license's seats may move to another device {allowed} time(s) in "
        f"{period.days} days; the next move is allowed at {iso_time(retry_at)}",
        retry_at=iso_time(retry_at),
        retry_after=retry_after,
        transfer_limit=allowed,
        transfer_period_days=period.days,
    )


def transfers_left(session: Session, license: License, now: datetime) -> int | None:
    """How many transfers the license may still make in the current period (None: no
    cap), for the pages that show it."""
    window = transfer_window(license)
    if window is None:
        return None
    allowed, period = window
    return max(0, allowed - len(recent_releases(session, license, now - period)))
