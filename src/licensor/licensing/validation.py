"""Online validation, the hottest path of the server (docs/adr/0003).

Every installed app asks this several times a day, so an answer costs one indexed read
and, usually, one signature:

* the license, its plan, this device's seat, whether the device ever had one, and the
  seats in use come back in one statement, read straight through the driver (a plain
  read: no write lock on SQLite, no ORM objects);
* the signed license file that goes with a valid answer is reused for up to
  ``LICENSOR_LICENSE_FILE_REFRESH_SECONDS`` per license and device, so a busy app does not
  cost a second signature each time;
* the seat's last-seen time is written at most every ``seen_interval_seconds``, in a
  short transaction of its own.

The answer itself is always freshly signed, with the client's nonce inside.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from licensor.clock import Clock, isoformat
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.licensing.service import KEY_PURPOSE, base_status, license_payload
from licensor.licensing.signing import (
    canonical_json,
    canonical_json_with,
    sign_license_file,
    signed_body,
)
from licensor.models import Activation, LicenseStatus

_QUERY = """
SELECT l.id, l.public_id, l.key_ciphertext, l.starts_at, l.expires_at, l.blocked_at,
       p.code, p.name, p.entitlements, p.devices_max,
       a.id, a.last_validated_at,
       EXISTS (SELECT 1 FROM activations h WHERE h.license_id = l.id AND h.device_id = d.id),
       (SELECT count(*) FROM activations u WHERE u.license_id = l.id AND u.released_at IS NULL)
FROM licenses l
JOIN plans p ON p.id = l.plan_id
LEFT JOIN devices d ON d.fingerprint = {fingerprint}
LEFT JOIN activations a
       ON a.license_id = l.id AND a.device_id = d.id AND a.released_at IS NULL
WHERE l.key_index = {key_index}
"""

CACHE_SIZE = 50_000


def _moment(value: Any) -> datetime | None:
    """A UTC datetime from what the driver returns (SQLite: text; PostgreSQL: datetime)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Validator:
    """Answers ``POST /api/v1/licenses/validate``; one per app, shared by its threads."""

    def __init__(
        self, database: Database, keyring: Keyring, settings: Settings, clock: Clock
    ) -> None:
        self.database = database
        self.keyring = keyring
        self.settings = settings
        self.clock = clock
        # Reads on the event loop with a connection of its own (one statement, one round
        # trip), unless told to use the pool from the thread pool (a distant database).
        self.runs_inline = settings.validation_reads == "inline"
        if database.is_sqlite:
            self._sql = _QUERY.format(fingerprint="?", key_index="?")
        else:
            self._sql = _QUERY.format(fingerprint="%s", key_index="%s")
        self._files: OrderedDict[tuple[int, str, datetime], tuple[datetime, bytes]]
        self._files = OrderedDict()
        self._lock = threading.Lock()
        self._own_connection: Any = None

    def answer(self, license_key: str, fingerprint: str, nonce: str | None) -> bytes:
        """The signed JSON body of the answer."""
        now = self.clock.now()
        body, license_file = self._decide(license_key, fingerprint, now)
        body["nonce"] = nonce
        body["issued_at"] = isoformat(now)
        if license_file is None:
            return signed_body(self.keyring, body)
        encoded = canonical_json_with(body, "license_file", license_file)
        return signed_body(self.keyring, body, encoded=encoded)

    def _decide(
        self, license_key: str, fingerprint: str, now: datetime
    ) -> tuple[dict[str, Any], bytes | None]:
        """The answer's fields, and the canonical JSON of its license file if it has one."""
        unknown = {"valid": False, "status": LicenseStatus.UNKNOWN}
        try:
            canonical = formats.normalize_license_key(license_key)
        except formats.MalformedError:
            return unknown, None
        row = self._read(self.keyring.blind_index(canonical, purpose=KEY_PURPOSE), fingerprint)
        if row is None:
            return unknown, None
        (license_id, public_id, key_ciphertext, starts_at, expires_at, blocked_at,
         plan_code, plan_name, entitlements, devices_max,
         seat_id, last_validated_at, had_seat, used) = row  # fmt: skip
        expires = _moment(expires_at)
        assert expires is not None
        status = base_status(blocked_at is not None, expires, now)
        if status == LicenseStatus.ACTIVE and seat_id is None:
            status = LicenseStatus.RELEASED if had_seat else LicenseStatus.NOT_ACTIVATED
        answer: dict[str, Any] = {
            "valid": status == LicenseStatus.ACTIVE,
            "status": status,
            "public_id": public_id,
            "plan": plan_code,
            "expires_at": isoformat(expires),
            "devices_used": int(used),
            "devices_max": devices_max,
        }
        if not answer["valid"]:
            return answer, None
        self._touch(seat_id, _moment(last_validated_at), now)
        if isinstance(entitlements, str):
            entitlements = json.loads(entitlements)
        return answer, self._license_file(
            (license_id, fingerprint, expires),
            now,
            lambda: license_payload(
                license_key=self.keyring.decrypt(bytes(key_ciphertext), purpose=KEY_PURPOSE),
                public_id=public_id,
                plan_code=plan_code,
                plan_name=plan_name,
                entitlements=list(entitlements or []),
                devices_max=devices_max,
                fingerprint=fingerprint,
                status=status,
                starts_at=_moment(starts_at),
                expires_at=expires,
                now=now,
                offline_days=self.settings.offline_days,
            ),
        )

    def _read(self, key_index: bytes, fingerprint: str) -> tuple[Any, ...] | None:
        if not self.runs_inline:
            return self._read_pooled(key_index, fingerprint)
        try:
            return self._read_own(key_index, fingerprint)
        except self.database.engine.dialect.loaded_dbapi.Error:
            # The connection broke (a database restart): one more try on a new one.
            self._drop_own()
            return self._read_own(key_index, fingerprint)

    def _read_own(self, key_index: bytes, fingerprint: str) -> tuple[Any, ...] | None:
        # Only the event loop's thread reads here: one connection of its own, kept out of
        # the pool, in autocommit mode, so a read is one statement and one round trip.
        if self._own_connection is None:
            connection = self.database.own_connection()
            if not self.database.is_sqlite:
                connection.autocommit = True
            self._own_connection = connection
        cursor = self._own_connection.cursor()
        try:
            cursor.execute(self._sql, (fingerprint, key_index))
            row = cursor.fetchone()
        finally:
            cursor.close()
        return tuple(row) if row is not None else None

    def _drop_own(self) -> None:
        connection, self._own_connection = self._own_connection, None
        if connection is not None:
            self.database.release_own(connection)

    def _read_pooled(self, key_index: bytes, fingerprint: str) -> tuple[Any, ...] | None:
        connection = self.database.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(self._sql, (fingerprint, key_index))
            row = cursor.fetchone()
            cursor.close()
            connection.rollback()  # end the read's transaction before the pool has it
            return tuple(row) if row is not None else None
        finally:
            connection.close()

    def _touch(self, seat_id: int, last_validated_at: datetime | None, now: datetime) -> None:
        interval = timedelta(seconds=self.settings.seen_interval_seconds)
        if last_validated_at is not None and last_validated_at > now - interval:
            return
        with self.database.transaction() as session:
            session.execute(
                update(Activation).where(Activation.id == seat_id).values(last_validated_at=now)
            )

    def _license_file(self, key: tuple[int, str, datetime], now: datetime, payload: Any) -> bytes:
        """The canonical JSON of a signed license file, reused while it is fresh enough."""
        refresh = timedelta(seconds=self.settings.license_file_refresh_seconds)
        with self._lock:
            cached = self._files.get(key)
            if cached is not None and now - refresh < cached[0] <= now:
                self._files.move_to_end(key)
                return cached[1]
        encoded = canonical_json(sign_license_file(self.keyring, payload()))
        with self._lock:
            self._files[key] = (now, encoded)
            self._files.move_to_end(key)
            while len(self._files) > CACHE_SIZE:
                self._files.popitem(last=False)
        return encoded
