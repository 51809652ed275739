"""The license backup (F9, format ``licensor-backup/1``): saving it, opening it, restoring it.

A backup carries the signed license file, the keys pinned when it was made and the
activation code, sealed to this machine and, with a passphrase, to that passphrase too
(``_sealing``), the license key bound in so a sealed code cannot move to another license.
``LicenseClient.export_backup`` is ``export``; ``import_backup`` reads and opens a backup
here, chooses the keys to trust and refuses to replace another valid license, then
``restore``s. docs/client.md has the format and the rules of restoring.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from licensor_client._checks import check_offline, check_online, later
from licensor_client._results import LicenseInfo
from licensor_client._sealing import (
    code_context,
    seal,
    seal_with_passphrase,
    unseal,
    unseal_with_passphrase,
)
from licensor_client._signing import LicenseFile, PublicKeys, format_time, verify_license_file
from licensor_client._state import DeviceState, dump_json, write_atomically
from licensor_client.exceptions import (
    BackupError,
    BackupLocked,
    LicenseFileExpired,
    NetworkError,
    VerificationError,
)

if TYPE_CHECKING:
    from licensor_client._client import LicenseClient

BACKUP_FORMAT = "licensor-backup/1"


def backup_context(license_file: LicenseFile) -> bytes:
    """What a code sealed in a backup is bound to: its license, as a backup's."""
    return b"licensor-backup/1\0" + license_file.license_key.encode()


def export(client: LicenseClient, path: Path, passphrase: str | None) -> Path:
    """Write a backup of ``client``'s license to ``path`` (``LicenseClient.export_backup``)."""
    if passphrase is not None and not passphrase:
        raise ValueError("a backup passphrase cannot be empty (None means no passphrase)")
    state = client.store.load_activated()
    keys, sealing_key = client.keys, client.machine.sealing_key
    license_file = verify_license_file(keys, state.license_file)
    code: str | None = None
    if state.code is not None:
        code = unseal(state.code, sealing_key, code_context(license_file))
    write_backup(
        path,
        server=client.server,
        created_at=client.now(),
        license_file=license_file,
        keys=keys,
        code=code,
        machine_key=sealing_key,
        passphrase=passphrase,
    )
    return path


def write_backup(
    path: Path,
    *,
    server: str,
    created_at: datetime,
    license_file: LicenseFile,
    keys: PublicKeys,
    code: str | None,
    machine_key: bytes,
    passphrase: str | None,
) -> None:
    """Write a backup of ``license_file`` and its ``code`` (none for a subscription's)."""
    context = backup_context(license_file)
    backup: dict[str, Any] = {
        "format": BACKUP_FORMAT,
        "server": server,
        "created_at": format_time(created_at),
        "license_file": license_file.raw,
        "public_keys": keys.as_dict(),
        "code": None,
    }
    if code is not None:
        backup["code"] = {"machine": seal(code, machine_key, context)}
        if passphrase is not None:
            backup["code"]["passphrase"] = seal_with_passphrase(code, passphrase, context)
    write_atomically(path, dump_json(backup))


def read_backup(path: Path) -> dict[str, Any]:
    """The backup in ``path``, once it is one (its contents are checked as they are used)."""
    try:
        backup = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise BackupError(f"no backup at {path}") from error
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise BackupError(f"{path} is not a license backup") from error
    if not isinstance(backup, dict) or backup.get("format") != BACKUP_FORMAT:
        raise BackupError(f"{path} is not a license backup")
    return backup


def offered_keys(backup: dict[str, Any]) -> PublicKeys | None:
    """The keys the backup carries, when its license file verifies with them."""
    offered = backup.get("public_keys")
    if not isinstance(offered, dict) or not offered:
        return None
    try:
        keys = PublicKeys(offered)
        verify_license_file(keys, backup.get("license_file"))
    except (ValueError, VerificationError):
        return None
    return keys


def open_backup(
    backup: dict[str, Any], path: Path, keys: PublicKeys, machine_key: bytes, passphrase: str | None
) -> tuple[LicenseFile, str | None]:
    """The backup's license file, verified with ``keys``, and its code, opened with this
    machine's key or the passphrase (``None``: a license without a code)."""
    try:
        license_file = verify_license_file(keys, backup.get("license_file"))
    except VerificationError as error:
        raise BackupError(f"the backup's license is not genuine: {error}") from error
    envelopes = backup.get("code") or {}
    if not isinstance(envelopes, dict):
        raise BackupError(f"{path} is damaged: its sealed code is not readable")
    return license_file, open_code(envelopes, machine_key, passphrase, backup_context(license_file))


def open_code(
    envelopes: dict[str, Any], machine_key: bytes, passphrase: str | None, context: bytes
) -> str | None:
    """The sealed code: with this machine's key when it was sealed here (whatever
    passphrase is given), else with the passphrase; ``None`` when there is no code."""
    machine, phrase = envelopes.get("machine"), envelopes.get("passphrase")
    if isinstance(machine, dict):
        try:
            return unseal(machine, machine_key, context)
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
            "this backup was made on another machine: give the passphrase chosen when it was saved",
            reason="passphrase_needed",
        )
    try:
        return unseal_with_passphrase(phrase, passphrase, context)
    except BackupLocked:
        raise BackupLocked(
            "this passphrase does not open the backup", reason="passphrase_wrong"
        ) from None


def restore(
    client: LicenseClient,
    license_file: LicenseFile,
    code: str | None,
    current: DeviceState | None,
) -> LicenseInfo:
    """Restore a backup's license on ``client``'s device, its keys already the backup's.
    On the machine that made it: checked online (the seat kept), or offline from its
    file; nothing is saved unless one holds. Elsewhere: the code is activated."""
    if license_file.fingerprint != client.fingerprint:
        if code is None:
            raise BackupLocked(
                "this backup was made on another machine and holds no activation code",
                reason="no_passphrase",
            )
        return client.activate(code)
    keys, sealing_key = client.keys, client.machine.sealing_key
    candidate = restored_state(
        license_file,
        server=client.server,
        current=current,
        keys=keys,
        sealed_code=None if code is None else seal(code, sealing_key, code_context(license_file)),
    )
    try:
        checked = check_online(
            client.api,
            keys,
            candidate,
            fingerprint=client.fingerprint,
            clock=client.now,
            components=client.machine.components,
        )
    except NetworkError as offline:
        try:
            check_offline(keys, candidate, fingerprint=client.fingerprint, now=client.now())
        except LicenseFileExpired as stale:
            raise NetworkError(
                f"{offline}; the backup's license file is out of date offline ({stale})"
            ) from offline
        candidate = replace(
            candidate, clock_high_water=later(client.now(), candidate.clock_high_water)
        )
        client.store.save(candidate)
        return LicenseInfo.of_state(candidate, source="offline")
    if not checked.valid and checked.status in ("released", "not_activated") and code:
        return client.activate(code)  # the seat was freed meanwhile: take one again
    client.store.save(checked)
    return LicenseInfo.of_state(checked, source="online")


def restored_state(
    license_file: LicenseFile,
    *,
    server: str,
    current: DeviceState | None,
    keys: PublicKeys,
    sealed_code: dict[str, Any] | None,
) -> DeviceState:
    """The state a backup of ``license_file`` restores on the machine that made it, before
    it is checked. What this device learned of the same license since the backup still
    holds (the server's last verdict, how late the clock was), and so does a newer file."""
    candidate = DeviceState(
        server=server,
        license_file=license_file.raw,
        status=license_file.status,
        valid=license_file.status == "active",
        checked_at=None,
        devices_used=None,
    )
    if current is not None and current.license_key == license_file.license_key:
        candidate = replace(
            candidate,
            verdict=current.verdict,
            clock_high_water=current.clock_high_water,
            code=current.code,
        )
        if _newer_file(keys, current, license_file):
            candidate = replace(current, server=server)
    if sealed_code is not None:
        candidate = replace(candidate, code=sealed_code)
    return candidate


def _newer_file(keys: PublicKeys, state: DeviceState, than: LicenseFile) -> bool:
    try:
        current = verify_license_file(keys, state.license_file)
    except VerificationError:
        return False
    return current.fingerprint == than.fingerprint and current.issued_at > than.issued_at
