"""How a device whose fingerprint changed is still recognised (docs/client.md, "How a
device is recognised").

The SDK builds its fingerprint from the machine's most durable identity and sends, beside
it, each part of the machine it could read (firmware UUID, a network card's permanent
address, the OS's machine id, the system disk's serial, ...) hashed for the app:
``{name: hash}``. When a part changes (a new network card) the fingerprint may change with
it; a device that had a seat should not then need a second one.

So a fingerprint that holds no seat of the license is compared, part by part, with the
devices holding its live seats: one that differs in at most one part, of at least
``MIN_COMPONENTS`` on either side, is that device. Its row takes the new fingerprint and
parts (when it holds no other license's seat; else only this license's seat and lease
move to a row of the new fingerprint), the seat stays, and the change is audited. Two
parts changed is a new device.

Fingerprints and parts travel and may be known to others, so they prove nothing alone:
the match is made only among the seats of the license the caller already proved it holds
(its code, or its key), never across licenses, and only when exactly one seat matches.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update

from licensor.logging import log
from licensor.models import Activation, Device, Lease, License
from licensor.units import UnitOfWork

#: The fewest parts a device must have sent, now and before, to be recognised by them.
MIN_COMPONENTS = 3


def same_machine(known: Mapping[str, str] | None, sent: Mapping[str, str] | None) -> bool:
    """Whether two sets of parts are one machine's: N-1 of N parts equal, N >= 3, and
    each side has at least ``MIN_COMPONENTS`` of its own (a part newly readable or no
    longer readable counts as changed)."""
    if not known or not sent or min(len(known), len(sent)) < MIN_COMPONENTS:
        return False
    names = known.keys() | sent.keys()
    equal = sum(1 for name in names if known.get(name) == sent.get(name))
    return equal >= len(names) - 1


def recognise_device(
    unit: UnitOfWork,
    license: License,
    fingerprint: str,
    components: Mapping[str, str] | None,
) -> Device | None:
    """The device of a live seat of ``license`` (locked by the caller) that is this
    machine under ``fingerprint``, now carrying it (moved here, or already there); ``None``
    when no part was sent, or no single seat's device matches."""
    if not components or len(components) < MIN_COMPONENTS:
        return None  # an older SDK, or an override: exactly the behaviour before
    session = unit.session
    seats = session.execute(
        select(Activation, Device)
        .join(Device, Device.id == Activation.device_id)
        .where(Activation.license_id == license.id, Activation.released_at.is_(None))
    ).all()
    holding = next((device for _, device in seats if device.fingerprint == fingerprint), None)
    if holding is not None:
        return holding  # already (a request just before this one may have moved it)
    matches = [
        (seat, device) for seat, device in seats if same_machine(device.components, components)
    ]
    if len(matches) != 1:
        return None  # two seats alike is no proof of which: a new device, as before
    seat, device = matches[0]
    known = device.components or {}
    changed = sorted(
        name for name in known.keys() | components.keys() if known.get(name) != components.get(name)
    )
    previous = device.fingerprint
    elsewhere = session.scalar(select(Device).where(Device.fingerprint == fingerprint))
    others_seated = session.scalar(
        select(Activation.id)
        .where(
            Activation.device_id == device.id,
            Activation.license_id != license.id,
            Activation.released_at.is_(None),
        )
        .limit(1)
    )
    if elsewhere is None and others_seated is None:
        device.fingerprint = fingerprint
        device.components = dict(components)
        recognised = device
    else:
        # The old row keeps the other licenses' seats, which are not this caller's to
        # move (whoever knows a fingerprint may have put their own parts on its row):
        # this license's seat, and its lease, move to the row of the new fingerprint,
        # which a seat of another license may have taken already.
        recognised = elsewhere or unit.licensing.upsert_device(
            fingerprint, device.name, device.platform, components
        )
        recognised.components = dict(components)
        seat.device_id = recognised.id
        session.execute(
            update(Lease)
            .where(Lease.license_id == license.id, Lease.device_id == device.id)
            .where(
                ~select(Lease.id)
                .where(Lease.license_id == license.id, Lease.device_id == recognised.id)
                .exists()
            )
            .values(device_id=recognised.id)
        )
    recognised.last_seen_at = unit.now
    session.flush()
    unit.audit(
        "licensing.device_recognised",
        subject_type="license",
        subject_id=license.id,
        device_id=recognised.id,
        previous_fingerprint=previous,
        fingerprint=fingerprint,
        changed=changed,
    )
    log.info(
        "licensing.device_recognised",
        public_id=license.public_id,
        device_id=recognised.id,
        changed=changed,
    )
    return recognised
