"""Licenses: what a code (or a subscription) becomes, found by its key, and what its
license file says.

A license key is stored encrypted, with a keyed blind index to find it by; the public ID
is not secret. Services only ``flush()``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from licensor.clock import isoformat
from licensor.errors import (
    FormInvalid,
    LicenseActionRefused,
    LicenseKeyMalformed,
    LicenseUnknown,
)
from licensor.licensing import formats
from licensor.licensing.signing import sign_license_file
from licensor.models import ActivationCode, License, LicenseStatus, Plan
from licensor.units import Service

KEY_PURPOSE = b"license_key"
# The most a term is extended by at once: ten years, as a typo guard.
MAX_EXTENSION_DAYS = 3650

_LICENSES = cast(Table, License.__table__)
# A new license's INSERT, by dialect: its id, or none when the public ID is taken.
_INSERT_LICENSE = {
    "postgresql": postgresql.insert(_LICENSES)
    .on_conflict_do_nothing(index_elements=[_LICENSES.c.public_id])
    .returning(_LICENSES.c.id),
    "sqlite": sqlite.insert(_LICENSES)
    .on_conflict_do_nothing(index_elements=[_LICENSES.c.public_id])
    .returning(_LICENSES.c.id),
}

# What a license is read with, since relationships never load behind one's back
# (lazy="raise"): its plan, and its code with that one's plan. One query.
LICENSE_WITH_CODE = (
    joinedload(License.plan, innerjoin=True),
    joinedload(License.activation_code).joinedload(ActivationCode.plan, innerjoin=True),
)


def base_status(blocked: bool, expires_at: datetime, now: datetime) -> LicenseStatus:
    """Blocked, expired or active, before looking at any device."""
    if blocked:
        return LicenseStatus.BLOCKED
    if expires_at <= now:
        return LicenseStatus.EXPIRED
    return LicenseStatus.ACTIVE


def license_status(license: License, now: datetime) -> LicenseStatus:
    """The license's status at ``now``: blocked, expired or active."""
    return base_status(license.blocked_at is not None, license.expires_at, now)


def license_payload(
    *,
    license_key: str,
    public_id: str,
    plan_code: str,
    plan_name: str,
    entitlements: list[str],
    devices_max: int,
    fingerprint: str,
    status: str,
    starts_at: datetime | None,
    expires_at: datetime,
    now: datetime,
    offline_days: int,
    reserve_starts_at: datetime | None = None,
    held_until: datetime | None = None,
) -> dict[str, Any]:
    """What a license file says (docs/signing.md); valid offline until ``valid_until``,
    which for a floating license is no later than the device's lease (``held_until``):
    a device that stops renewing cannot go on offline past it.
    A license with a reserve code says when it starts (``expires_at`` already counts it);
    one without has no such field, so its file reads as it always did."""
    valid_until = min(now + timedelta(days=offline_days), expires_at)
    if held_until is not None:
        valid_until = min(valid_until, held_until)
    payload = {
        "license_key": license_key,
        "public_id": public_id,
        # Top-level for SDKs since issue 16; ``plan.entitlements`` kept for older ones.
        "entitlements": sorted(entitlements),
        "plan": {"code": plan_code, "name": plan_name, "entitlements": entitlements},
        "devices_max": devices_max,
        "fingerprint": fingerprint,
        "status": status,
        "starts_at": isoformat(starts_at),
        "expires_at": isoformat(expires_at),
        "issued_at": isoformat(now),
        "valid_until": isoformat(valid_until),
    }
    if reserve_starts_at is not None:
        payload["reserve_starts_at"] = isoformat(reserve_starts_at)
    return payload


class Licenses(Service):
    """Licenses in one unit of work (``unit.licenses``)."""

    def key_index(self, canonical: str) -> bytes:
        """The blind index a license is found by its key with."""
        return self.keyring.blind_index(canonical, purpose=KEY_PURPOSE)

    def reveal_license_key(self, license: License) -> str:
        """The license key in clear (canonical form)."""
        return self.keyring.decrypt(license.key_ciphertext, purpose=KEY_PURPOSE)

    def find_license(self, text: str, *, lock: bool = False) -> License:
        """The license of this key, with its plan and code; ``lock``: its row locked."""
        try:
            canonical = formats.normalize_license_key(text)
        except formats.MalformedError as error:
            raise LicenseKeyMalformed(str(error)) from None
        license = self._license(License.key_index == self.key_index(canonical), lock, False)
        if license is None:
            raise LicenseUnknown()
        return license

    def get_license(self, license_id: int, *, lock: bool = False) -> License:
        """The license with this id, with its plan and code, read afresh (``lock``: locked)."""
        license = self._license(License.id == license_id, lock, True)
        if license is None:
            raise LicenseUnknown()
        return license

    def by_public_id(self, public_id: str, *, lock: bool = False) -> License:
        """The license with this public ID (as said on the phone: any case), with its plan
        and code; ``lock``: its row locked."""
        license = self._license(License.public_id == public_id.strip().upper(), lock, lock)
        if license is None:
            raise LicenseUnknown()
        return license

    def extend_term(
        self,
        license: License,
        *,
        days: int | None = None,
        until: date | None = None,
        reason: str,
        actor: str,
    ) -> License:
        """Move the end of a license the caller holds locked: by ``days`` (from its end, or
        from now if it has ended) or to the day ``until`` (at its end's time of day). Only
        later: a term is shortened by blocking. The next validation and license file carry
        the new end (validation reads it afresh; its cache is keyed by the end).

        A subscription's term follows its billing (each renewal sets it), so it is refused.
        """
        if license.code_id is None:
            raise LicenseActionRefused(
                "subscription", "a subscription's term follows its billing: change it there"
            )
        problems: dict[str, str] = {}
        if not reason.strip():
            problems["reason"] = "required"
        new_end: datetime | None = None
        if (days is None) == (until is None):
            problems["days"] = "term_days_or_date"
        elif days is not None:
            if 1 <= days <= MAX_EXTENSION_DAYS:
                new_end = max(license.expires_at, self.now) + timedelta(days=days)
            else:
                problems["days"] = "term_days_range"
        elif until is not None:
            new_end = datetime.combine(until, license.expires_at.astimezone(UTC).timetz())
            if new_end <= max(license.expires_at, self.now):
                problems["until"] = "term_not_later"
            elif new_end > self.now + timedelta(days=MAX_EXTENSION_DAYS):
                problems["until"] = "term_days_range"
        if problems or new_end is None:
            raise FormInvalid(problems)
        previous = license.expires_at
        license.expires_at = new_end
        self.unit.audit(
            "licensing.term_extended",
            actor=actor,
            subject_type="license",
            subject_id=license.id,
            reason=reason.strip(),
            public_id=license.public_id,
            previous_expires_at=isoformat(previous),
            expires_at=isoformat(new_end),
        )
        self.session.flush()
        return license

    def _license(self, where: Any, lock: bool, afresh: bool) -> License | None:
        if lock:  # locked first, then read with its code: as Codes._code, for the same reason
            license_id = self.session.scalar(select(License.id).where(where).with_for_update())
            if license_id is None:
                return None
            where, afresh = License.id == license_id, True
        query = select(License).where(where).options(*LICENSE_WITH_CODE)
        license = self.session.scalars(query.execution_options(populate_existing=afresh)).first()
        if license is not None and license.activation_code is not None:
            # The license holds the key to its code, so loading the code from the license
            # leaves the code's side unset; it is this license, known without a query.
            set_committed_value(license.activation_code, "license", license)
        return license

    def new_license(
        self, plan: Plan, *, expires_at: datetime, code: ActivationCode | None
    ) -> License:
        """A license with a fresh key and public ID: a code's at first activation, or a
        subscription's (no code) when it is bought."""
        self.session.flush()  # the plan and the code have their ids
        canonical_key = formats.generate_license_key()
        values: dict[str, Any] = {
            "key_index": self.key_index(canonical_key),
            "key_ciphertext": self.keyring.encrypt(canonical_key, purpose=KEY_PURPOSE),
            "code_id": code.id if code else None,
            "plan_id": plan.id,
            "starts_at": self.now,
            "expires_at": expires_at,
            "blocked_reason": None,
            "blocked_at": None,
            "created_at": self.now,
        }
        # One INSERT that skips a public ID already taken (40 random bits: rarely, but a
        # million licenses make it happen), instead of a SELECT before each INSERT; and
        # plain Core, the row made an ORM object afterwards, instead of the ORM's flush.
        insert = _INSERT_LICENSE[self.session.get_bind().dialect.name]
        connection = self.session.connection()
        while True:
            public_id = formats.generate_public_id()
            license_id = connection.execute(insert, {**values, "public_id": public_id}).scalar()
            if license_id is not None:
                break
        # Every column set, so that reading one (the license's own device limit, say) is no
        # second query: a new license has neither its own limit nor granted transfers.
        license = License(
            id=license_id, public_id=public_id, devices_max=None, extra_transfers=0, **values
        )
        make_transient_to_detached(license)  # as if read: every column set, nothing to write
        self.session.add(license)
        set_committed_value(license, "plan", plan)
        set_committed_value(license, "activation_code", code)
        if code is not None:
            set_committed_value(code, "license", license)
        return license

    def license_file(
        self,
        license: License,
        fingerprint: str,
        status: str,
        *,
        reserve_starts_at: datetime | None = None,
        held_until: datetime | None = None,
    ) -> dict[str, Any]:
        """The license file for the device with ``fingerprint``, freshly signed; valid
        offline no later than ``held_until`` (a floating license's lease)."""
        payload = license_payload(
            license_key=self.reveal_license_key(license),
            public_id=license.public_id,
            plan_code=license.plan.code,
            plan_name=license.plan.name,
            entitlements=list(license.plan.entitlements or []),
            devices_max=license.devices_max or license.plan.devices_max,
            fingerprint=fingerprint,
            status=status,
            starts_at=license.starts_at,
            expires_at=license.expires_at,
            now=self.now,
            offline_days=self.settings.offline_days,
            reserve_starts_at=reserve_starts_at,
            held_until=held_until,
        )
        return sign_license_file(self.keyring, payload)
