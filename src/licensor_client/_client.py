"""``LicenseClient``: everything an app does with its license, on one device.

The client asks the server (``_api``), judges what comes back (``_checks``, ``_signing``)
and keeps the outcome in the device's state (``_state``); backups are ``_backup``'s.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from licensor_client import _backup
from licensor_client._api import Api, check_server
from licensor_client._checks import (
    HIGH_WATER_STEP,
    check_offline,
    check_online,
    held_license_key,
    still_valid_here,
)
from licensor_client._leases import Lease, lease_call
from licensor_client._machine import FINGERPRINT_ENV, Machine, this_machine
from licensor_client._proof import device_key, make_proof, public_bytes
from licensor_client._reserve import add_reserve, withdraw_reserve
from licensor_client._results import (
    Connected,
    DeviceConnect,
    LicenseInfo,
    LinkResult,
    ReleaseResult,
)
from licensor_client._sealing import code_context, seal
from licensor_client._sharing import SharedLicense, activate_shared, shared_licenses
from licensor_client._signing import (
    PublicKeys,
    b64url_encode,
    check_license_file,
    verify_license_file,
)
from licensor_client._state import (
    DeviceState,
    StateStore,
    default_state_dir,
    write_atomically,
)
from licensor_client.exceptions import (
    AuthorizationPending,
    BackupConflict,
    DeviceCodeExpired,
    InsecureServer,
    LicenseFileExpired,
    NetworkError,
    PinnedKeysInvalid,
)


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
        self._may_fetch_keys = check_server(server, allow_insecure_http)
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
        """This device's clock (``clock=``, tests), which every check reads."""
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
        return self.api.signing_keys()

    # --- activation ---------------------------------------------------------------------

    def activate(self, activation_code: str) -> LicenseInfo:
        """Redeem a code on this device (F3). The same device activating again gets its
        own seat back; the code is kept sealed to this machine, for backups."""
        keys = self.keys
        answer = self.api.activate(
            activation_code,
            self.fingerprint,
            self.device_name,
            self.machine.platform,
            self.device_public_key,
            self.machine.components,
        )
        return self._keep(keys, answer, activation_code)

    def enroll(self, token: str) -> LicenseInfo:
        """First start of an app downloaded from My Account (F1): the installer's one-time
        token activates the subscription's license here, no code typed."""
        keys = self.keys
        answer = self.api.enroll(
            token, self.fingerprint, self.device_name, self.machine.platform, self.device_public_key
        )
        return self._keep(keys, answer, None)

    def _keep(self, keys: PublicKeys, answer: dict[str, Any], code: str | None) -> LicenseInfo:
        """Keep the license the server just sent: its file must already hold offline, for
        this device; the code (none for a subscription) is sealed to this machine."""
        license_file = check_license_file(
            keys, answer.get("license_file"), fingerprint=self.fingerprint, now=self.now()
        )
        now = self.now()
        devices_used = answer.get("devices_used")
        sealed = None
        if code is not None:
            sealed = seal(code, self.machine.sealing_key, code_context(license_file))
        state = DeviceState(
            server=self.server,
            license_file=license_file.raw,
            devices_used=devices_used if isinstance(devices_used, int) else None,
            checked_at=now,
            status=license_file.status,
            valid=True,
            clock_high_water=now,
            code=sealed,
        )
        self.store.save(state)
        return LicenseInfo.of_state(state, source="online")

    @property
    def device_public_key(self) -> str:
        """This device's public key (base64url), made on first use; the private key
        never leaves the state directory, sealed to this machine."""
        return b64url_encode(public_bytes(device_key(self.state_dir, self.machine)))

    def license_proof(self) -> str:
        """A license proof for support (``LP1.…``): the license key, public ID and
        fingerprint, signed by this device's key, which the server kept at activation.
        The desk checks it without reading a screenshot; no network here."""
        state = self.store.load_activated()
        license_file = verify_license_file(self.keys, state.license_file)
        return make_proof(
            device_key(self.state_dir, self.machine),
            license_key=license_file.license_key,
            public_id=license_file.public_id,
            fingerprint=self.fingerprint,
            issued_at=self.now(),
        )

    def export_proof(self, path: Path | str) -> Path:
        """Save ``license_proof()`` to ``path`` (readable by its owner only: it carries
        the license key), for the customer to attach to a support request."""
        target = Path(path)
        write_atomically(target, (self.license_proof() + "\n").encode())
        return target

    def request_seat_release_link(self, activation_code: str | None = None) -> str:
        """After ``DeviceLimitReached``: ask the server to mail the license's owner a
        one-time link that frees one of its seats (the owner of record only: the account
        holding the license, else its order's address; never an address given here).
        ``activation_code`` is the code just refused; without one, the license key kept
        on this device is sent. The answer is the same whether or not a mail went out
        (the server says nothing about who owns what): its sentence, for the customer."""
        license_key = None
        if activation_code is None:
            license_key = self._held_license_key()
        answer = self.api.seat_release_link(
            self.fingerprint,
            self.device_name,
            self.machine.platform,
            activation_code=activation_code,
            license_key=license_key,
        )
        return str(answer.get("detail") or "")

    def _held_license_key(self) -> str:
        state = self.store.load_activated()
        return verify_license_file(self.keys, state.license_file).license_key

    # --- checking -----------------------------------------------------------------------

    def status(self) -> LicenseInfo:
        """Check the license online; when the server cannot be reached, from the license
        file alone until its ``valid_until``. Raises ``NetworkError`` when neither can say,
        and ``LicenseNotActive`` offline when the server's last signed answer said the
        license is not valid (released, blocked, expired…)."""
        state = self.store.load_activated()
        try:
            checked = check_online(
                self.api,
                self.keys,
                state,
                fingerprint=self.fingerprint,
                clock=self.now,
                components=self.machine.components,
            )
        except NetworkError as offline:
            try:
                return self.validate_offline()
            except LicenseFileExpired as stale:
                raise NetworkError(
                    f"{offline}; the license file stopped being valid offline ({stale})"
                ) from offline
        self.store.save(checked)
        return LicenseInfo.of_state(checked, source="online")

    def validate_offline(self) -> LicenseInfo:
        """The license file's verdict, with no network: signature, device, status, time,
        and the server's last signed answer (``LicenseNotActive`` when it said the
        license is not valid). Raises a ``VerificationError`` when any check fails."""
        state = self.store.load_activated()
        check_offline(self.keys, state, fingerprint=self.fingerprint, now=self.now())
        now = self.now()
        high_water = state.clock_high_water
        if high_water is None or now - high_water >= HIGH_WATER_STEP:
            try:
                self.store.save(dataclasses.replace(state, clock_high_water=now))
            except OSError:
                pass  # a read-only state still checks offline; the mark just stays behind
        return LicenseInfo.of_state(state, source="offline")

    def details(self) -> LicenseInfo:
        """The license as last seen, for the License details window; no network.
        The file's signature is checked, its age is not."""
        state = self.store.load_activated()
        verify_license_file(self.keys, state.license_file)
        return LicenseInfo.of_state(state, source="stored")

    def has_license(self) -> bool:
        """Whether a license is kept here (checked or not): the License window's first
        question, answered without the network or the keys."""
        return self.store.load() is not None

    # --- account ------------------------------------------------------------------------

    def recover(self, email: str, password: str) -> LinkResult:
        """Send this license to the customer's account (F4): its code then appears in
        My Account's Licenses section."""
        state = self.store.load_activated()
        license_file = verify_license_file(self.keys, state.license_file)
        answer = self.api.link(email, password, license_file.license_key, self.fingerprint)
        return LinkResult.of_answer(answer)

    def shared_licenses(self, email: str, password: str) -> list[SharedLicense]:
        """The licenses shared with the customer's account (family sharing), each one this
        device may take a seat of with ``activate_shared``."""
        return shared_licenses(self, email, password)

    def activate_shared(self, public_id: str, email: str, password: str) -> LicenseInfo:
        """Take a seat of a license shared with the customer's account: it counts against
        the license's device limit, and its owner stopping the share frees it (the next
        check says ``released``). The owner keeps the code: none is kept here."""
        return activate_shared(self, public_id, email, password)

    def connect_start(self) -> DeviceConnect:
        """Start connecting this device to an account with a short code (F10). The license
        key this device holds goes along as its proof of possession: only a license
        proven so joins the account when the code is entered."""
        answer = self.api.authorize_device(
            self.fingerprint, self.device_name, self.machine.platform, self._held_keys()
        )
        return DeviceConnect.of_answer(answer, self.now())

    def _held_keys(self) -> list[str]:
        state = self.store.load()
        if state is None:
            return []
        license_key = held_license_key(self.keys, state, self.fingerprint)
        return [] if license_key is None else [license_key]

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
            if current is None or not still_valid_here(
                self.keys, current, fingerprint=self.fingerprint, now=self.now()
            ):
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

    # --- floating licenses ----------------------------------------------------------------

    def checkout(self) -> Lease:
        """Check out a lease of the floating license kept here (a device already holding
        one renews it). ``LeaseLimitReached`` (with ``retry_at``) when every lease is
        held; ``LicenseNotFloating`` for a license that counts devices."""
        return lease_call(self, "checkout")

    def heartbeat(self) -> Lease:
        """Renew this device's lease, every ``Lease.renew_after``. A lapsed lease is taken
        afresh if one is free (else ``LeaseLimitReached``); one that was checked in or
        freed by the owner is not (``LeaseNotHeld``)."""
        return lease_call(self, "heartbeat")

    def checkin(self) -> Lease:
        """Give this device's lease back (on exit), so another device can take it."""
        return lease_call(self, "release")

    # --- reserve codes --------------------------------------------------------------------

    def add_reserve_code(self, activation_code: str) -> LicenseInfo:
        """Keep a second code of the same plan in reserve: the license is extended at once
        by its term, the reserve starting when the current term ends
        (``LicenseInfo.reserve_starts_at``). The code is refused as an activation refuses
        it (``CodeBlocked``, ``CodeNotSold``, …); ``ServerError`` codes ``code_in_use``,
        ``code_reserved``, ``reserve_plan_mismatch`` and ``reserve_exists`` say the rest."""
        return add_reserve(self, activation_code)

    def withdraw_reserve(self) -> LicenseInfo:
        """Take the reserve code back before it starts: the term is as it was, and the
        code is an unused code again (``reserve_started`` once it has begun)."""
        return withdraw_reserve(self)

    # --- moving -------------------------------------------------------------------------

    def release(self) -> ReleaseResult:
        """Free this device's seat (F8) and forget the license here."""
        state = self.store.load_activated()
        license_file = verify_license_file(self.keys, state.license_file)
        answer = self.api.release(
            license_file.license_key, self.fingerprint, self.machine.components
        )
        self.store.clear()
        return ReleaseResult.of_answer(answer)

    def forget(self) -> None:
        """Drop the local license without telling the server (the seat stays taken)."""
        self.store.clear()

    def export_backup(self, path: Path | str, passphrase: str | None = None) -> Path:
        """Save the license for after an OS reinstall (F9): the signed license file, the
        pinned keys, and the code, sealed to this machine and, with a passphrase, to that
        passphrase too (so it can be restored on another machine, or on this one when
        its identity does not survive a reinstall: ``machine.survives_reinstall``)."""
        return _backup.export(self, Path(path), passphrase)

    def import_backup(
        self, path: Path | str, passphrase: str | None = None, *, replace: bool = False
    ) -> LicenseInfo:
        """Restore a backup. On the machine that made it this takes no new seat and works
        offline while the license file is valid; elsewhere it needs the passphrase and the
        server, and activates the code (a seat on this device).

        Nothing is saved until the restored license checks out (online, or offline from
        its file). A newer file of the same license already here is kept. Another license
        still valid here is not replaced (``BackupConflict``) unless ``replace=True``."""
        target = Path(path)
        backup = _backup.read_backup(target)
        keys, pin = self._keys_for_backup(backup)
        license_file, code = _backup.open_backup(
            backup, target, keys, self.machine.sealing_key, passphrase
        )
        current = self.store.load()
        if (
            current is not None
            and not replace
            and current.license_key != license_file.license_key
            and still_valid_here(keys, current, fingerprint=self.fingerprint, now=self.now())
        ):
            raise BackupConflict(
                f"this device has another license ({current.public_id}) that is still "
                "valid, and the backup would replace it: release that license first, or "
                "restore with replace (licensor-client import --replace)"
            )
        previous_keys, self._keys = self._keys, keys
        try:
            info = _backup.restore(self, license_file, code, current)
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
        if self._keys is None and self.store.pinned_keys() is None:
            offered = _backup.offered_keys(backup)
            if offered is not None:
                return offered, True
        return self.keys, False  # else the server's are fetched, as on any first use
