"""Online validation, the hottest path of the server (docs/adr/0003).

Every installed app asks this several times a day, so an answer costs one indexed read
and, usually, one signature, and waits on nothing else:

* the license, its plan, this device's seat, whether the device ever had one, and the
  seats in use come back in one statement, read without holding up the event loop
  (``validation_reads.py``);
* the signed license file that goes with a valid answer is reused for up to
  ``LICENSOR_LICENSE_FILE_REFRESH_SECONDS`` per license and device, so a busy app does not
  cost a second signature each time;
* the seat's last-seen time is noted at most every ``seen_interval_seconds`` and written
  behind the answer, in batches (``last_seen.py``): never waited for; so is the count of
  validations a day (the console's dashboard).

The answer itself is always freshly signed, with the client's nonce inside.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.licensing.last_seen import LastSeenWriter
from licensor.licensing.licenses import KEY_PURPOSE, base_status, license_payload
from licensor.licensing.recognition import MIN_COMPONENTS, recognise_device
from licensor.licensing.signing import (
    canonical_json,
    canonical_json_with,
    sign_license_file,
    signed_body,
)
from licensor.licensing.validation_reads import validation_reads
from licensor.metrics import VALIDATIONS
from licensor.models import License, LicenseStatus
from licensor.units import open_unit

CACHE_SIZE = 50_000  # license files, and license keys' blind indexes
FileKey = tuple[int, str, datetime, datetime | None]


def _moment(value: Any) -> datetime | None:
    """A UTC datetime from what the driver returns (SQLite: text; PostgreSQL: datetime)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_text(moment: datetime) -> str:
    """``clock.isoformat`` for a moment already in UTC, at a third of its cost."""
    return moment.isoformat()[:19] + "Z"


class Validator:
    """Answers ``POST /api/v1/licenses/validate``, on the event loop; one per app."""

    def __init__(
        self, database: Database, keyring: Keyring, settings: Settings, clock: Clock
    ) -> None:
        self.database = database
        self.keyring = keyring
        self.settings = settings
        self.clock = clock
        self.reads = validation_reads(database, settings)
        self.last_seen = LastSeenWriter(database)
        self.seen_interval = timedelta(seconds=settings.seen_interval_seconds)
        self.file_refresh = timedelta(seconds=settings.license_file_refresh_seconds)
        # By license, device, end of term and, for a floating license, end of the lease.
        self._files: OrderedDict[FileKey, tuple[datetime, bytes]]
        self._files = OrderedDict()  # only the event loop's thread uses it: no lock
        # A device sends its key as it always does: the check and the keyed hash are
        # worked out once per text.
        self._key_indexes: dict[str, bytes] = {}
        self._issued: tuple[datetime, str, date] = (
            datetime.min.replace(tzinfo=UTC),
            "",
            date.min,
        )
        # Each status's counter found once: the answer costs an increment, no lookup.
        self._counted = {status: VALIDATIONS.labels(status.value) for status in LicenseStatus}

    async def answer(
        self,
        license_key: str,
        fingerprint: str,
        nonce: str | None,
        components: Mapping[str, str] | None = None,
    ) -> bytes:
        """The signed JSON body of the answer; ``components`` (the fingerprint's parts)
        let a device whose fingerprint changed be recognised (licensing/recognition.py)."""
        now = self.clock.now()
        body, license_file = await self._decide(license_key, fingerprint, now, components)
        self._counted[body["status"]].inc()
        if not body["valid"]:
            # Why, for a machine (issue 16, item 10): the status says it already, but a
            # reason is the one field every refusal shares, answers and problems alike.
            body["reason"] = body["status"].value
        body["nonce"] = nonce
        if self._issued[0] != now:  # answers of the same second share the text and day
            self._issued = (now, _utc_text(now), now.astimezone(UTC).date())
        body["issued_at"] = self._issued[1]
        # Counted for the dashboard, valid or not; written behind the answer.
        self.last_seen.count_validation(self._issued[2])
        if license_file is None:
            return signed_body(self.keyring, body)
        encoded = canonical_json_with(body, "license_file", license_file)
        return signed_body(self.keyring, body, encoded=encoded)

    async def close(self) -> None:
        """Write the last-seen times noted, close the reads' connection (at shutdown)."""
        await run_in_threadpool(self.last_seen.close)  # it waits for the last write
        await self.reads.close()

    async def _decide(
        self,
        license_key: str,
        fingerprint: str,
        now: datetime,
        components: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], bytes | None]:
        """The answer's fields, and the canonical JSON of its license file if it has one."""
        unknown = {"valid": False, "status": LicenseStatus.UNKNOWN, "entitlements": []}
        key_index = self._key_index(license_key)
        if key_index is None:
            return unknown, None
        row = await self.reads.row(key_index, fingerprint)
        if row is None:
            return unknown, None
        (license_id, public_id, key_ciphertext, starts_at, expires_at, blocked_at,
         plan_code, plan_name, entitlements, devices_max,
         seat_id, last_validated_at, had_seat, used, lease_seconds, lease_until,
         reserve_starts) = row  # fmt: skip
        expires = _moment(expires_at)
        assert expires is not None
        status = base_status(blocked_at is not None, expires, now)
        if status == LicenseStatus.ACTIVE and seat_id is None:
            # The slow way, only for a fingerprint that holds no seat: is it a seat's
            # device with one part changed? If so, read again: it holds the seat now.
            if components and len(components) >= MIN_COMPONENTS:
                recognised = await run_in_threadpool(
                    self._recognise, license_id, fingerprint, components, now
                )
                if recognised:
                    return await self._decide(license_key, fingerprint, now)
            status = LicenseStatus.RELEASED if had_seat else LicenseStatus.NOT_ACTIVATED
        held_until = _moment(lease_until)
        if lease_seconds is not None and status == LicenseStatus.ACTIVE:
            # Floating: valid only while the device holds a live lease (licensing/leases.py).
            if held_until is None or held_until <= now:
                status = LicenseStatus.LEASE_EXPIRED
        if isinstance(entitlements, str):  # SQLite's JSON column comes back as text
            entitlements = json.loads(entitlements)
        entitlements = sorted(entitlements or [])
        answer: dict[str, Any] = {
            "valid": status == LicenseStatus.ACTIVE,
            "status": status,
            "public_id": public_id,
            "plan": plan_code,
            "expires_at": _utc_text(expires),
            "devices_used": int(used),
            "devices_max": devices_max,
            "entitlements": entitlements,
        }
        if lease_seconds is not None:
            # Only floating answers carry it: the others' fields stay as they were.
            live = held_until is not None and held_until > now
            answer["lease_expires_at"] = _utc_text(held_until) if live and held_until else None
        reserve_start = _moment(reserve_starts)
        if reserve_start is not None:
            # Only a license with a reserve code says when it starts (licensing/reserves.py).
            answer["reserve_starts_at"] = _utc_text(reserve_start)
        if not answer["valid"]:
            return answer, None
        seen = _moment(last_validated_at)
        if seen is None or seen <= now - self.seen_interval:
            self.last_seen.note(seat_id, now)
        return answer, self._license_file(
            (license_id, fingerprint, expires, held_until if lease_seconds is not None else None),
            now,
            lambda: license_payload(
                license_key=self.keyring.decrypt(bytes(key_ciphertext), purpose=KEY_PURPOSE),
                public_id=public_id,
                plan_code=plan_code,
                plan_name=plan_name,
                entitlements=entitlements,
                devices_max=devices_max,
                fingerprint=fingerprint,
                status=status,
                starts_at=_moment(starts_at),
                expires_at=expires,
                now=now,
                offline_days=self.settings.offline_days,
                reserve_starts_at=reserve_start,
                held_until=held_until if lease_seconds is not None else None,
            ),
        )

    def _recognise(
        self, license_id: int, fingerprint: str, components: Mapping[str, str], now: datetime
    ) -> bool:
        """Whether this fingerprint is now a seat's device of the license (committed)."""
        with open_unit(self.database, self.keyring, self.settings, now, actor="device") as unit:
            license = unit.session.get_one(License, license_id, with_for_update=True)
            return recognise_device(unit, license, fingerprint, components) is not None

    def _key_index(self, license_key: str) -> bytes | None:
        """The blind index of a license key as the device typed it; None if malformed."""
        key_index = self._key_indexes.get(license_key)
        if key_index is not None:
            return key_index
        try:
            canonical = formats.normalize_license_key(license_key)
        except formats.MalformedError:
            return None
        key_index = self.keyring.blind_index(canonical, purpose=KEY_PURPOSE)
        if len(self._key_indexes) >= CACHE_SIZE:
            del self._key_indexes[next(iter(self._key_indexes))]  # the oldest
        self._key_indexes[license_key] = key_index
        return key_index

    def _license_file(self, key: FileKey, now: datetime, payload: Any) -> bytes:
        """The canonical JSON of a signed license file, reused while it is fresh enough."""
        cached = self._files.get(key)
        if cached is not None and now - self.file_refresh < cached[0] <= now:
            self._files.move_to_end(key)
            return cached[1]
        encoded = canonical_json(sign_license_file(self.keyring, payload()))
        self._files[key] = (now, encoded)
        self._files.move_to_end(key)
        while len(self._files) > CACHE_SIZE:
            self._files.popitem(last=False)
        return encoded
