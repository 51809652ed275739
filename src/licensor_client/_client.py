"""``LicenseClient``: everything an app does with its license, on one device."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from licensor_client._api import Api
from licensor_client._machine import FINGERPRINT_ENV, Machine, this_machine
from licensor_client._sealing import seal, seal_with_passphrase, unseal, unseal_with_passphrase
from licensor_client._signing import (
    LicenseFile,
    PublicKeys,
    check_license_file,
    parse_time,
    verify_answer,
    verify_license_file,
)
from licensor_client._state import StateStore, default_state_dir, dump_json, write_atomically
from licensor_client.exceptions import (
    AuthorizationPending,
    BackupError,
    BackupLocked,
    EnrollmentFileInvalid,
    LicenseFileExpired,
    NetworkError,
    NotActivated,
    SignatureInvalid,
)

BACKUP_FORMAT = "licensor-backup/1"
INVALID_STATUSES = ("released", "not_activated", "blocked", "expired", "unknown")


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
            return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None

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
    ) -> None:
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
        first use), kept in the state directory for every later check."""
        if self._keys is None:
            pinned = self.store.pinned_keys()
            if pinned is None:
                answer = self.api.signing_keys()
                keys = PublicKeys(answer.get("keys") or {})
                self.store.pin_keys(keys.as_text())
                self._keys = keys
            else:
                self._keys = PublicKeys.parse(pinned)
        return self._keys

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
        state: dict[str, Any] = {
            "server": self.server,
            "license_file": license_file.raw,
            "devices_used": answer.get("devices_used"),
            "checked_at": _iso(self.now()),
            "status": license_file.status,
            "valid": True,
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
        file alone until its ``valid_until``. Raises ``NetworkError`` when neither can say."""
        state = self._state()
        try:
            return self._validate_online(state)
        except NetworkError as offline:
            try:
                return self.validate_offline()
            except LicenseFileExpired as stale:
                raise NetworkError(
                    f"{offline}; the license file stopped being valid offline ({stale})"
                ) from offline

    def _validate_online(self, state: dict[str, Any]) -> LicenseInfo:
        keys = self.keys
        license_file = verify_license_file(keys, state.get("license_file"))
        nonce = secrets.token_urlsafe(18)
        answer = verify_answer(
            keys,
            self.api.validate(license_file.license_key, self.fingerprint, nonce),
            nonce=nonce,
        )
        state = {
            **state,
            "status": answer.get("status"),
            "valid": bool(answer.get("valid")),
            "checked_at": _iso(self.now()),
        }
        if answer.get("license_file") is not None:
            state["license_file"] = self._check_new_file(keys, answer["license_file"]).raw
        if answer.get("devices_used") is not None:
            state["devices_used"] = answer["devices_used"]
        self.store.save(state)
        return self._info(state, source="online")

    def validate_offline(self) -> LicenseInfo:
        """The license file's verdict, with no network: signature, device, status, time.
        Raises a ``VerificationError`` when any check fails."""
        state = self._state()
        check_license_file(
            self.keys, state.get("license_file"), fingerprint=self.fingerprint, now=self.now()
        )
        return self._info({**state, "valid": True, "status": "active"}, source="offline")

    def details(self) -> LicenseInfo:
        """The license as last seen, for the License details window; no network.
        The file's signature is checked, its age is not."""
        state = self._state()
        verify_license_file(self.keys, state.get("license_file"))
        return self._info(state, source="stored")

    def has_license(self) -> bool:
        return self.store.load() is not None

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
        """Start connecting this device to an account with a short code (F10)."""
        answer = self.api.authorize_device(
            self.fingerprint, self.device_name, self.machine.platform
        )
        return DeviceConnect(
            device_code=str(answer["device_code"]),
            user_code=str(answer["user_code"]),
            verification_uri=str(answer["verification_uri"]),
            verification_uri_complete=str(answer["verification_uri_complete"]),
            expires_in=int(answer["expires_in"]),
            interval=int(answer["interval"]),
        )

    def connect_poll(self, connect: DeviceConnect) -> Connected | None:
        """``None`` while the customer has not entered the code yet."""
        try:
            answer = self.api.device_token(connect.device_code)
        except AuthorizationPending:
            return None
        license = None
        if isinstance(answer.get("license"), dict) and not self.has_license():
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
        """Poll at the server's interval until the code is entered or it expires
        (``DeviceCodeExpired``)."""
        while True:
            connected = self.connect_poll(connect)
            if connected is not None:
                return connected
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
        """Save the license for after an OS reinstall (F9): the signed license file and
        the code, sealed to this machine and, with a passphrase, to that passphrase too
        (so it can be restored on another machine)."""
        state = self._state()
        license_file = verify_license_file(self.keys, state.get("license_file"))
        context = _backup_context(license_file)
        code: str | None = None
        if isinstance(state.get("code"), dict):
            code = unseal(state["code"], self.machine.sealing_key, _code_context(license_file))
        backup: dict[str, Any] = {
            "format": BACKUP_FORMAT,
            "server": self.server,
            "created_at": _iso(self.now()),
            "license_file": license_file.raw,
            "code": None,
        }
        if code is not None:
            backup["code"] = {"machine": seal(code, self.machine.sealing_key, context)}
            if passphrase:
                backup["code"]["passphrase"] = seal_with_passphrase(code, passphrase, context)
        target = Path(path)
        write_atomically(target, dump_json(backup))
        return target

    def import_backup(self, path: Path | str, passphrase: str | None = None) -> LicenseInfo:
        """Restore a backup. On the machine that made it this takes no new seat and works
        offline while the license file is valid; elsewhere it needs the passphrase and the
        server, and activates the code (a seat on this device)."""
        backup = _read_backup(Path(path))
        try:
            license_file = verify_license_file(self.keys, backup.get("license_file"))
        except SignatureInvalid as error:
            raise BackupError(f"the backup's license is not genuine: {error}") from error
        context = _backup_context(license_file)
        envelopes = backup.get("code") or {}
        if not isinstance(envelopes, dict):
            raise BackupError(f"{path} is damaged: its sealed code is not readable")
        code = self._open_code(envelopes, passphrase, context)
        same_machine = license_file.fingerprint == self.fingerprint
        if not same_machine:
            if code is None:
                raise BackupLocked(
                    "this backup was made on another machine and holds no activation code",
                    reason="no_passphrase",
                )
            return self.activate(code)
        state: dict[str, Any] = {
            "server": self.server,
            "license_file": license_file.raw,
            "status": license_file.status,
            "valid": license_file.status == "active",
            "checked_at": None,
            "devices_used": None,
        }
        if code is not None:
            state["code"] = seal(code, self.machine.sealing_key, _code_context(license_file))
        self.store.save(state)
        try:
            info = self._validate_online(state)
        except NetworkError:
            return self.validate_offline()
        if not info.valid and info.status in ("released", "not_activated") and code is not None:
            return self.activate(code)  # the seat was freed meanwhile: take one again
        return info

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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
