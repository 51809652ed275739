"""``LicenseClient``: everything an app does with its license, on one device."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from licensor_client._api import Api
from licensor_client._machine import FINGERPRINT_ENV, Machine, this_machine
from licensor_client._sealing import seal, seal_with_passphrase, unseal, unseal_with_passphrase
from licensor_client._signing import (
    CLOCK_TOLERANCE,
    LicenseFile,
    PublicKeys,
    check_license_file,
    check_verified_file,
    format_time,
    parse_time,
    verify_answer,
    verify_license_file,
    verify_signed_answer,
)
from licensor_client._state import StateStore, default_state_dir, dump_json, write_atomically
from licensor_client.exceptions import (
    AuthorizationPending,
    BackupConflict,
    BackupError,
    BackupLocked,
    ClockTampered,
    DeviceCodeExpired,
    EnrollmentFileInvalid,
    InsecureServer,
    LicenseFileExpired,
    LicenseNotActive,
    NetworkError,
    NotActivated,
    PinnedKeysInvalid,
    ServerError,
    SignatureInvalid,
    VerificationError,
)

BACKUP_FORMAT = "licensor-backup/1"
#: A key id as pinned in text (``id:key,id:key``): no separator inside.
_KEY_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: How often an offline check writes down how late the clock has been (``validate_offline``).
_HIGH_WATER_STEP = timedelta(minutes=1)


def format_license_key(license_key: str) -> str:
    """The 32-digit key in groups of four, the way the License details window shows it."""
    return " ".join(license_key[index : index + 4] for index in range(0, len(license_key), 4))


@dataclass(frozen=True)
class LicenseInfo:
    """What the License window shows. ``source`` says how ``valid`` was decided:
    ``online`` (a signed answer just now), ``offline`` (the signed license file) or
    ``stored`` (details only, not checked)."""

    license_key: str
    public_id: str
    plan: str
    plan_name: str
    status: str
    valid: bool
    expires_at: datetime | None
    devices_used: int | None
    devices_max: int
    valid_until: datetime | None
    source: str
    checked_at: datetime | None = None
    entitlements: tuple[str, ...] = ()
    has_code: bool = False

    @property
    def grouped_license_key(self) -> str:
        return format_license_key(self.license_key)

    def as_dict(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return format_time(value) if value else None

        return {
            "license_key": self.license_key,
            "public_id": self.public_id,
            "plan": self.plan,
            "plan_name": self.plan_name,
            "status": self.status,
            "valid": self.valid,
            "expires_at": when(self.expires_at),
            "devices_used": self.devices_used,
            "devices_max": self.devices_max,
            "valid_until": when(self.valid_until),
            "source": self.source,
            "checked_at": when(self.checked_at),
            "entitlements": list(self.entitlements),
        }


@dataclass(frozen=True)
class LinkResult:
    """The license joined the account (``linked``) or was already in it."""

    status: str
    public_id: str
    plan: str
    licenses_url: str


@dataclass(frozen=True)
class ReleaseResult:
    public_id: str
    devices_used: int
    devices_max: int


@dataclass(frozen=True)
class DeviceConnect:
    """The short code to show, and where the customer enters it (F10)."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int
    #: When the code stops working, on the client's clock (``connect_wait`` stops then).
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Connected:
    """The device joined the account. ``license`` is the account's subscription license,
    now active here and kept, when the account has one with a free seat."""

    account: str
    licenses_linked: tuple[str, ...]
    license: LicenseInfo | None = None


class LicenseClient:
    """The license of one app on this device.

    ``public_keys`` are the vendor's Ed25519 keys the app pins (``licensor keys show``).
    Without them the client pins the server's keys on first use and stores them in the
    state directory: convenient for scripts and demos, weaker than keys built into the
    app, which is what a shipped app should do.

    The server must be ``https://``, or plain ``http://`` on this machine (127.0.0.0/8,
    ``::1``, ``localhost``); ``allow_insecure_http=True`` accepts another http server,
    but keys are then never fetched from it: pin them.

    Calls block (HTTP); an app makes them from a worker thread. One client may serve
    several threads — httpx's client is thread-safe and every state write is atomic — but
    two license operations at once race like any two writers (the last one's state
    stays), so an app runs one at a time.
    """

    def __init__(
        self,
        server: str,
        public_keys: PublicKeys | Mapping[str, str] | str | None = None,
        *,
        app_id: str = "licensor-app",
        state_dir: Path | str | None = None,
        fingerprint: str | None = None,
        device_name: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        clock: Callable[[], datetime] | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        #: Whether keys may be fetched and pinned on first use: not over another
        #: machine's plain http, where anyone on the way could hand us theirs.
        self._may_fetch_keys = _check_server(server, allow_insecure_http)
        self.api = Api(server, transport=transport, timeout=timeout)
        self.state_dir = Path(state_dir) if state_dir else default_state_dir(app_id)
        self.store = StateStore(self.state_dir)
        self._app_id, self._fingerprint_override = app_id, fingerprint
        self._machine: Machine | None = None
        if fingerprint or os.environ.get(FINGERPRINT_ENV):
            self._machine = self.machine  # cheap, and a bad override is refused at once
        self._device_name = device_name
        self._clock = clock or (lambda: datetime.now(UTC))
        if isinstance(public_keys, str):
            public_keys = PublicKeys.parse(public_keys)
        elif public_keys is not None and not isinstance(public_keys, PublicKeys):
            public_keys = PublicKeys(public_keys)
        self._keys: PublicKeys | None = public_keys

    def __enter__(self) -> LicenseClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.api.close()

    @property
    def server(self) -> str:
        return self.api.server

    @property
    def machine(self) -> Machine:
        """This device, worked out on first use (on some systems that runs a program, so
        an app can build the client on its UI thread and call it from a worker)."""
        if self._machine is None:
            self._machine = this_machine(self._app_id, self.state_dir, self._fingerprint_override)
        return self._machine

    @property
    def fingerprint(self) -> str:
        return self.machine.fingerprint

    @property
    def device_name(self) -> str:
        return self._device_name or self.machine.name

    def now(self) -> datetime:
        return self._clock()

    # --- keys -------------------------------------------------------------------------

    @property
    def keys(self) -> PublicKeys:
        """The pinned keys; on first use without pinned keys, the server's (trust on
        first use), kept in the state directory for every later check. Deleting
        ``signing-keys`` there pins the server's keys again (after a key rotation)."""
        if self._keys is None:
            pinned = self.store.pinned_keys()
            if pinned is None:
                keys = self._server_keys()
                self.store.pin_keys(keys.as_text())
                self._keys = keys
            else:
                try:
                    self._keys = PublicKeys.parse(pinned)
                except ValueError as error:
                    raise PinnedKeysInvalid(self.store.damaged_keys_message()) from error
        return self._keys

    def _server_keys(self) -> PublicKeys:
        if not self._may_fetch_keys:
            raise InsecureServer(
                f"{self.server} is plain http on another machine: its signing keys are not "
                "fetched from it; give the vendor's keys (public_keys, --public-keys)"
            )
        answer = self.api.signing_keys()
        keys = answer.get("keys")
        if (
            not isinstance(keys, dict)
            or not keys
            or not all(
                isinstance(key_id, str) and _KEY_ID.match(key_id) and isinstance(key, str)
                for key_id, key in keys.items()
            )
        ):
            raise ServerError(200, "bad_answer", "The server's signing keys are malformed")
        try:
            return PublicKeys(keys)
        except ValueError as error:
            raise ServerError(
                200, "bad_answer", "The server's signing keys are malformed", str(error)
            ) from error

    # --- activation ---------------------------------------------------------------------

    def activate(self, activation_code: str) -> LicenseInfo:
        """Redeem a code on this device (F3). The same device activating again gets its
        own seat back; the code is kept sealed to this machine, for backups."""
        keys = self.keys
        answer = self.api.activate(
            activation_code, self.fingerprint, self.device_name, self.machine.platform
        )
        return self._keep(keys, answer, activation_code)

    def enroll(self, token: str) -> LicenseInfo:
        """First start of an app downloaded from My Account (F1): the installer's one-time
        token activates the subscription's license here, no code typed."""
        keys = self.keys
        answer = self.api.enroll(token, self.fingerprint, self.device_name, self.machine.platform)
        return self._keep(keys, answer, None)

    def _keep(self, keys: PublicKeys, answer: dict[str, Any], code: str | None) -> LicenseInfo:
        license_file = self._check_new_file(keys, answer.get("license_file"))
        now = self.now()
        state: dict[str, Any] = {
            "server": self.server,
            "license_file": license_file.raw,
            "devices_used": answer.get("devices_used"),
            "checked_at": format_time(now),
            "status": license_file.status,
            "valid": True,
            "clock_high_water": format_time(now),
        }
        if code is not None:
            state["code"] = seal(code, self.machine.sealing_key, _code_context(license_file))
        self.store.save(state)
        return self._info(state, source="online")

    def _check_new_file(self, keys: PublicKeys, document: Any) -> LicenseFile:
        """A file the server just sent must already hold offline, for this device."""
        return check_license_file(keys, document, fingerprint=self.fingerprint, now=self.now())

    # --- checking -----------------------------------------------------------------------

    def status(self) -> LicenseInfo:
        """Check the license online; when the server cannot be reached, from the license
        file alone until its ``valid_until``. Raises ``NetworkError`` when neither can say,
        and ``LicenseNotActive`` offline when the server's last signed answer said the
        license is not valid (released, blocked, expired…)."""
        state = self._state()
        try:
            checked = self._check_online(state)
        except NetworkError as offline:
            try:
                return self.validate_offline()
            except LicenseFileExpired as stale:
                raise NetworkError(
                    f"{offline}; the license file stopped being valid offline ({stale})"
                ) from offline
        self.store.save(checked)
        return self._info(checked, source="online")

    def _check_online(self, state: dict[str, Any]) -> dict[str, Any]:
        """The state after a signed answer about it; the caller saves it."""
        keys = self.keys
        license_file = verify_license_file(keys, state.get("license_file"))
        nonce = secrets.token_urlsafe(18)
        signed = self.api.validate(license_file.license_key, self.fingerprint, nonce)
        answer = verify_answer(keys, signed, nonce=nonce)
        _check_about(license_file, answer)
        now = self.now()
        checked = {
            **state,
            "status": answer.get("status"),
            "valid": bool(answer.get("valid")),
            "checked_at": format_time(now),
            "clock_high_water": format_time(_later(now, _high_water(state))),
        }
        if answer.get("valid"):
            checked.pop("verdict", None)
        else:
            # Kept signed, so that offline checks go on refusing what the server refused.
            checked["verdict"] = signed
        if answer.get("license_file") is not None:
            fresh = self._check_new_file(keys, answer["license_file"])
            if fresh.license_key != license_file.license_key:
                raise SignatureInvalid("the answer is about another license")
            checked["license_file"] = fresh.raw
            # A fresh file held against this clock: it is right, even if an earlier
            # (wrong, later) time was written down.
            checked["clock_high_water"] = format_time(now)
        if answer.get("devices_used") is not None:
            checked["devices_used"] = answer["devices_used"]
        return checked

    def validate_offline(self) -> LicenseInfo:
        """The license file's verdict, with no network: signature, device, status, time,
        and the server's last signed answer (``LicenseNotActive`` when it said the
        license is not valid). Raises a ``VerificationError`` when any check fails."""
        state = self._state()
        self._check_offline(state)
        now = self.now()
        high_water = _high_water(state)
        if high_water is None or now - high_water >= _HIGH_WATER_STEP:
            try:
                self.store.save({**state, "clock_high_water": format_time(now)})
            except OSError:
                pass  # a read-only state still checks offline; the mark just stays behind
        return self._info({**state, "valid": True, "status": "active"}, source="offline")

    def _check_offline(self, state: dict[str, Any]) -> LicenseFile:
        keys, now = self.keys, self.now()
        license_file = verify_license_file(keys, state.get("license_file"))
        verdict = state.get("verdict")
        if verdict is not None:
            answer = verify_signed_answer(keys, verdict)
            _check_about(license_file, answer)
            issued_at = parse_time(answer["issued_at"])
            # A file issued after the answer supersedes it (the license was fixed since).
            if not answer.get("valid") and issued_at >= license_file.issued_at:
                status = str(answer.get("status"))
                raise LicenseNotActive(
                    f"the license server said on {issued_at:%Y-%m-%d} that this license is "
                    f"{status.replace('_', ' ')}",
                    status=status,
                )
        # Verified once above: an offline check costs one Ed25519 verification, not two.
        checked = check_verified_file(license_file, fingerprint=self.fingerprint, now=now)
        high_water = _high_water(state)
        if high_water is not None and now + CLOCK_TOLERANCE < high_water:
            raise ClockTampered(
                "the device clock is behind a time it already showed: check the date and time"
            )
        return checked

    def details(self) -> LicenseInfo:
        """The license as last seen, for the License details window; no network.
        The file's signature is checked, its age is not."""
        state = self._state()
        verify_license_file(self.keys, state.get("license_file"))
        return self._info(state, source="stored")

    def has_license(self) -> bool:
        return self.store.load() is not None

    def _still_valid_here(self, state: dict[str, Any], keys: PublicKeys) -> bool:
        """Whether ``state`` holds a license that still counts on this device: genuine,
        this device's, not expired, and valid when last checked (file age aside)."""
        try:
            license_file = verify_license_file(keys, state.get("license_file"))
        except VerificationError:
            return False
        return (
            license_file.fingerprint == self.fingerprint
            and state.get("valid") is True
            and state.get("status") == "active"
            and license_file.expires_at > self.now()
        )

    def _state(self) -> dict[str, Any]:
        state = self.store.load()
        if state is None:
            raise NotActivated("no license on this device: enter an activation code")
        return state

    def _info(self, state: dict[str, Any], *, source: str) -> LicenseInfo:
        payload = state["license_file"]["payload"]
        plan = payload.get("plan") or {}
        status = str(state.get("status") or payload.get("status"))
        return LicenseInfo(
            license_key=str(payload["license_key"]),
            public_id=str(payload["public_id"]),
            plan=str(plan.get("code", "")),
            plan_name=str(plan.get("name", "")),
            status=status,
            valid=bool(state.get("valid")) and status == "active",
            expires_at=parse_time(payload["expires_at"]) if payload.get("expires_at") else None,
            devices_used=state.get("devices_used"),
            devices_max=int(payload.get("devices_max", 0)),
            valid_until=parse_time(payload["valid_until"]),
            source=source,
            checked_at=parse_time(state["checked_at"]) if state.get("checked_at") else None,
            entitlements=tuple(str(item) for item in plan.get("entitlements", [])),
            has_code=isinstance(state.get("code"), dict),
        )

    # --- account ------------------------------------------------------------------------

    def recover(self, email: str, password: str) -> LinkResult:
        """Send this license to the customer's account (F4): its code then appears in
        My Account's Licenses section."""
        state = self._state()
        license_file = verify_license_file(self.keys, state.get("license_file"))
        answer = self.api.link(email, password, license_file.license_key, self.fingerprint)
        return LinkResult(
            status=str(answer["status"]),
            public_id=str(answer["public_id"]),
            plan=str(answer["plan"]),
            licenses_url=str(answer["licenses_url"]),
        )

    def connect_start(self) -> DeviceConnect:
        """Start connecting this device to an account with a short code (F10). The license
        key this device holds goes along as its proof of possession: only a license
        proven so joins the account when the code is entered."""
        answer = self.api.authorize_device(
            self.fingerprint, self.device_name, self.machine.platform, self._held_keys()
        )
        expires_in = int(answer["expires_in"])
        return DeviceConnect(
            device_code=str(answer["device_code"]),
            user_code=str(answer["user_code"]),
            verification_uri=str(answer["verification_uri"]),
            verification_uri_complete=str(answer["verification_uri_complete"]),
            expires_in=expires_in,
            interval=int(answer["interval"]),
            expires_at=self.now() + timedelta(seconds=expires_in),
        )

    def _held_keys(self) -> list[str]:
        """The license key kept here, when its file is genuine (signed by a pinned key,
        so it is this vendor's) and issued to this device; none otherwise."""
        state = self.store.load()
        if state is None:
            return []
        try:
            license_file = verify_license_file(self.keys, state.get("license_file"))
        except VerificationError:
            return []
        if license_file.fingerprint != self.fingerprint:
            return []
        return [license_file.license_key]

    def connect_poll(self, connect: DeviceConnect) -> Connected | None:
        """``None`` while the customer has not entered the code yet. The account's
        subscription license, when the server sends one (it does for a device without a
        live seat), is kept unless this device holds a license that still counts."""
        try:
            answer = self.api.device_token(connect.device_code)
        except AuthorizationPending:
            return None
        license = None
        if isinstance(answer.get("license"), dict):
            current = self.store.load()
            if current is None or not self._still_valid_here(current, self.keys):
                license = self._keep(self.keys, answer["license"], None)
        return Connected(
            account=str(answer["account"]),
            licenses_linked=tuple(str(item) for item in answer.get("licenses_linked", [])),
            license=license,
        )

    def connect_wait(
        self,
        connect: DeviceConnect,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Connected:
        """Poll at the server's interval until the code is entered, or until it expires
        (``DeviceCodeExpired``); a network failure meanwhile is retried until then."""
        deadline = connect.expires_at or self.now() + timedelta(seconds=connect.expires_in)
        while True:
            try:
                connected = self.connect_poll(connect)
            except NetworkError:
                connected = None
            if connected is not None:
                return connected
            if self.now() >= deadline:
                raise DeviceCodeExpired(
                    410, "device_code_expired", "The code has expired: start connecting again"
                )
            sleep(connect.interval)

    # --- moving -------------------------------------------------------------------------

    def release(self) -> ReleaseResult:
        """Free this device's seat (F8) and forget the license here."""
        state = self._state()
        license_file = verify_license_file(self.keys, state.get("license_file"))
        answer = self.api.release(license_file.license_key, self.fingerprint)
        self.store.clear()
        return ReleaseResult(
            public_id=str(answer["public_id"]),
            devices_used=int(answer["devices_used"]),
            devices_max=int(answer["devices_max"]),
        )

    def forget(self) -> None:
        """Drop the local license without telling the server (the seat stays taken)."""
        self.store.clear()

    def export_backup(self, path: Path | str, passphrase: str | None = None) -> Path:
        """Save the license for after an OS reinstall (F9): the signed license file, the
        pinned keys, and the code, sealed to this machine and, with a passphrase, to that
        passphrase too (so it can be restored on another machine, or on this one when
        its identity does not survive a reinstall: ``machine.survives_reinstall``)."""
        if passphrase is not None and not passphrase:
            raise ValueError("a backup passphrase cannot be empty (None means no passphrase)")
        state = self._state()
        keys = self.keys
        license_file = verify_license_file(keys, state.get("license_file"))
        context = _backup_context(license_file)
        code: str | None = None
        if isinstance(state.get("code"), dict):
            code = unseal(state["code"], self.machine.sealing_key, _code_context(license_file))
        backup: dict[str, Any] = {
            "format": BACKUP_FORMAT,
            "server": self.server,
            "created_at": format_time(self.now()),
            "license_file": license_file.raw,
            "public_keys": keys.as_dict(),
            "code": None,
        }
        if code is not None:
            backup["code"] = {"machine": seal(code, self.machine.sealing_key, context)}
            if passphrase is not None:
                backup["code"]["passphrase"] = seal_with_passphrase(code, passphrase, context)
        target = Path(path)
        write_atomically(target, dump_json(backup))
        return target

    def import_backup(
        self, path: Path | str, passphrase: str | None = None, *, replace: bool = False
    ) -> LicenseInfo:
        """Restore a backup. On the machine that made it this takes no new seat and works
        offline while the license file is valid; elsewhere it needs the passphrase and the
        server, and activates the code (a seat on this device).

        Nothing is saved until the restored license checks out (online, or offline from
        its file). A newer file of the same license already here is kept. Another license
        still valid here is not replaced (``BackupConflict``) unless ``replace=True``."""
        backup = _read_backup(Path(path))
        keys, pin = self._keys_for_backup(backup)
        try:
            license_file = verify_license_file(keys, backup.get("license_file"))
        except VerificationError as error:
            raise BackupError(f"the backup's license is not genuine: {error}") from error
        envelopes = backup.get("code") or {}
        if not isinstance(envelopes, dict):
            raise BackupError(f"{path} is damaged: its sealed code is not readable")
        code = self._open_code(envelopes, passphrase, _backup_context(license_file))
        current = self.store.load()
        if (
            current is not None
            and not replace
            and _license_key_of(current) != license_file.license_key
            and self._still_valid_here(current, keys)
        ):
            raise BackupConflict(
                f"this device has another license ({_public_id_of(current)}) that is still "
                "valid, and the backup would replace it: release that license first, or "
                "restore with replace (licensor-client import --replace)"
            )
        previous_keys, self._keys = self._keys, keys
        try:
            info = self._restore(license_file, code, current, keys)
        except BaseException:
            self._keys = previous_keys
            raise
        if pin:
            self.store.pin_keys(keys.as_text())
        return info

    def _keys_for_backup(self, backup: dict[str, Any]) -> tuple[PublicKeys, bool]:
        """The keys to check a backup with, and whether to pin them: this app's, or, when
        nothing is pinned (a reinstall wiped it) and no keys were given, the backup's own
        if its license file verifies with them — so it restores offline too."""
        if self._keys is not None or self.store.pinned_keys() is not None:
            return self.keys, False
        offered = backup.get("public_keys")
        if isinstance(offered, dict) and offered:
            try:
                keys = PublicKeys(offered)
                verify_license_file(keys, backup.get("license_file"))
            except (ValueError, VerificationError):
                pass  # not these: fetch the server's as on any first use
            else:
                return keys, True
        return self.keys, False

    def _restore(
        self,
        license_file: LicenseFile,
        code: str | None,
        current: dict[str, Any] | None,
        keys: PublicKeys,
    ) -> LicenseInfo:
        if license_file.fingerprint != self.fingerprint:
            if code is None:
                raise BackupLocked(
                    "this backup was made on another machine and holds no activation code",
                    reason="no_passphrase",
                )
            return self.activate(code)
        candidate: dict[str, Any] = {
            "server": self.server,
            "license_file": license_file.raw,
            "status": license_file.status,
            "valid": license_file.status == "active",
            "checked_at": None,
            "devices_used": None,
        }
        if current is not None and _license_key_of(current) == license_file.license_key:
            # The same license: what this device learned since the backup still holds
            # (the server's last verdict, how late the clock was), and so does a newer file.
            for name in ("verdict", "clock_high_water", "code"):
                if name in current:
                    candidate[name] = current[name]
            if _newer_file(keys, current, license_file):
                candidate = {**current, "server": self.server}
        if code is not None:
            candidate["code"] = seal(code, self.machine.sealing_key, _code_context(license_file))
        try:
            checked = self._check_online(candidate)
        except NetworkError as offline:
            try:
                self._check_offline(candidate)
            except LicenseFileExpired as stale:
                raise NetworkError(
                    f"{offline}; the backup's license file is out of date offline ({stale})"
                ) from offline
            now = self.now()
            candidate["clock_high_water"] = format_time(_later(now, _high_water(candidate)))
            self.store.save(candidate)
            return self._info({**candidate, "valid": True, "status": "active"}, source="offline")
        if not checked["valid"] and checked["status"] in ("released", "not_activated") and code:
            return self.activate(code)  # the seat was freed meanwhile: take one again
        self.store.save(checked)
        return self._info(checked, source="online")

    def _open_code(
        self, envelopes: dict[str, Any], passphrase: str | None, context: bytes
    ) -> str | None:
        """The sealed code: with this machine's key when it was sealed here (whatever
        passphrase is given), else with the passphrase."""
        machine, phrase = envelopes.get("machine"), envelopes.get("passphrase")
        if isinstance(machine, dict):
            try:
                return unseal(machine, self.machine.sealing_key, context)
            except BackupLocked:
                pass  # made on another machine
        elif machine is None and phrase is None:
            return None  # a license without a code (a subscription's)
        if not isinstance(phrase, dict):
            raise BackupLocked(
                "this backup was made on another machine without a passphrase: enter the "
                "activation code instead (it is in My Account's Licenses section)",
                reason="no_passphrase",
            )
        if not passphrase:
            raise BackupLocked(
                "this backup was made on another machine: give the passphrase chosen when it "
                "was saved",
                reason="passphrase_needed",
            )
        try:
            return unseal_with_passphrase(phrase, passphrase, context)
        except BackupLocked:
            raise BackupLocked(
                "this passphrase does not open the backup", reason="passphrase_wrong"
            ) from None


@dataclass(frozen=True)
class Enrollment:
    """The file My Account's download carries: where the server is, its keys, the token."""

    server: str
    token: str
    public_keys: dict[str, str]


def read_enrollment(path: Path | str) -> Enrollment:
    """Read ``licensor-enrollment.json`` (format ``licensor-enrollment/1``)."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise EnrollmentFileInvalid(f"{path} is not an enrollment file") from error
    if (
        not isinstance(document, dict)
        or document.get("format") != "licensor-enrollment/1"
        or not isinstance(document.get("server"), str)
        or not isinstance(document.get("token"), str)
        or not isinstance(document.get("public_keys"), dict)
    ):
        raise EnrollmentFileInvalid(f"{path} is not an enrollment file")
    return Enrollment(document["server"], document["token"], dict(document["public_keys"]))


def _check_server(server: str, allow_insecure_http: bool) -> bool:
    """Refuse a server that anyone on the way could stand in for; say whether its keys
    may be fetched (not over another machine's plain http, even when allowed)."""
    url = httpx.URL(server)
    if url.scheme == "https" and url.host:
        return True
    if url.scheme != "http" or not url.host:
        raise ValueError(f"the server must be an https:// URL, not {server!r}")
    if _is_loopback(url.host):
        return True
    if not allow_insecure_http:
        raise InsecureServer(
            f"{server} is plain http on another machine, where anyone on the way could "
            "answer in its place: use https://, or allow insecure http explicitly"
        )
    return False


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_about(license_file: LicenseFile, answer: dict[str, Any]) -> None:
    """A signed answer counts only for the license asked about. The server leaves
    ``public_id`` out only when it does not know the license (``unknown``)."""
    public_id = answer.get("public_id")
    if public_id is None and answer.get("status") == "unknown" and not answer.get("valid"):
        return
    if public_id != license_file.public_id:
        raise SignatureInvalid("the answer is about another license")


def _high_water(state: dict[str, Any]) -> datetime | None:
    """The latest time the device clock showed during a check (unsigned, ours)."""
    try:
        return parse_time(state.get("clock_high_water"))
    except VerificationError:
        return None


def _later(moment: datetime, other: datetime | None) -> datetime:
    return moment if other is None else max(moment, other)


def _license_key_of(state: dict[str, Any]) -> str | None:
    try:
        return str(state["license_file"]["payload"]["license_key"])
    except (KeyError, TypeError):
        return None


def _public_id_of(state: dict[str, Any]) -> str:
    try:
        return str(state["license_file"]["payload"]["public_id"])
    except (KeyError, TypeError):
        return "unknown"


def _newer_file(keys: PublicKeys, state: dict[str, Any], than: LicenseFile) -> bool:
    try:
        current = verify_license_file(keys, state.get("license_file"))
    except VerificationError:
        return False
    return current.fingerprint == than.fingerprint and current.issued_at > than.issued_at


def _code_context(license_file: LicenseFile) -> bytes:
    return b"licensor-code/1\0" + license_file.license_key.encode()


def _backup_context(license_file: LicenseFile) -> bytes:
    return b"licensor-backup/1\0" + license_file.license_key.encode()


def _read_backup(path: Path) -> dict[str, Any]:
    try:
        backup = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise BackupError(f"no backup at {path}") from error
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise BackupError(f"{path} is not a license backup") from error
    if not isinstance(backup, dict) or backup.get("format") != BACKUP_FORMAT:
        raise BackupError(f"{path} is not a license backup")
    return backup
