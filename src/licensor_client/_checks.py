"""Deciding whether the license kept on this device counts, online or offline.

Functions of the pinned keys, the device's state, its fingerprint and the time (and, to
ask online, the API): what they return, the caller saves. docs/client.md ("What the SDK
checks") says the rules in words.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from licensor_client._api import Api
from licensor_client._signing import (
    CLOCK_TOLERANCE,
    LicenseFile,
    PublicKeys,
    check_license_file,
    check_verified_file,
    parse_time,
    verify_answer,
    verify_license_file,
    verify_signed_answer,
)
from licensor_client._state import DeviceState
from licensor_client.exceptions import (
    ClockTampered,
    LicenseNotActive,
    SignatureInvalid,
    VerificationError,
)

#: How often an offline check writes down how late the clock has been (``validate_offline``).
HIGH_WATER_STEP = timedelta(minutes=1)


def check_about(license_file: LicenseFile, answer: dict[str, Any]) -> None:
    """A signed answer counts only for the license asked about. The server leaves
    ``public_id`` out only when it does not know the license (``unknown``)."""
    public_id = answer.get("public_id")
    if public_id is None and answer.get("status") == "unknown" and not answer.get("valid"):
        return
    if public_id != license_file.public_id:
        raise SignatureInvalid("the answer is about another license")


def later(moment: datetime, other: datetime | None) -> datetime:
    """The later of two moments, the second perhaps unknown."""
    return moment if other is None else max(moment, other)


def check_online(
    api: Api,
    keys: PublicKeys,
    state: DeviceState,
    *,
    fingerprint: str,
    clock: Callable[[], datetime],
    components: Mapping[str, str] | None = None,
) -> DeviceState:
    """Ask the server about the license ``state`` holds: the state after its signed
    answer, for the caller to save. ``NetworkError`` when no verdict came back. With
    ``components`` a device whose fingerprint changed with one part keeps its seat: the
    answer's license file then carries the new fingerprint, and is kept."""
    license_file = verify_license_file(keys, state.license_file)
    nonce = secrets.token_urlsafe(18)
    signed = api.validate(license_file.license_key, fingerprint, nonce, components)
    answer = verify_answer(keys, signed, nonce=nonce)
    return after_answer(
        keys, state, license_file, signed, answer, fingerprint=fingerprint, now=clock()
    )


def after_answer(
    keys: PublicKeys,
    state: DeviceState,
    license_file: LicenseFile,
    signed: dict[str, Any],
    answer: dict[str, Any],
    *,
    fingerprint: str,
    now: datetime,
) -> DeviceState:
    """The state once the server answered about it: ``answer`` is ``signed`` verified
    (nonce and all), ``license_file`` the state's file, verified. The caller saves it."""
    check_about(license_file, answer)
    valid = bool(answer.get("valid"))
    status = answer.get("status")
    checked = replace(
        state,
        status=status if isinstance(status, str) else None,
        valid=valid,
        checked_at=now,
        clock_high_water=later(now, state.clock_high_water),
        # Kept signed, so that offline checks go on refusing what the server refused.
        verdict=None if valid else signed,
    )
    if answer.get("license_file") is not None:
        fresh = check_license_file(keys, answer["license_file"], fingerprint=fingerprint, now=now)
        if fresh.license_key != license_file.license_key:
            raise SignatureInvalid("the answer is about another license")
        # A fresh file held against this clock: it is right, even if an earlier (wrong,
        # later) time was written down.
        checked = replace(checked, license_file=fresh.raw, clock_high_water=now)
    devices_used = answer.get("devices_used")
    if isinstance(devices_used, int):
        checked = replace(checked, devices_used=devices_used)
    return checked


def check_offline(
    keys: PublicKeys, state: DeviceState, *, fingerprint: str, now: datetime
) -> LicenseFile:
    """The license file's verdict with no network: signature, device, status, time, the
    clock's high-water mark, and the server's last signed answer (``LicenseNotActive``
    when it said the license is not valid)."""
    license_file = verify_license_file(keys, state.license_file)
    if state.verdict is not None:
        answer = verify_signed_answer(keys, state.verdict)
        check_about(license_file, answer)
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
    checked = check_verified_file(license_file, fingerprint=fingerprint, now=now)
    high_water = state.clock_high_water
    if high_water is not None and now + CLOCK_TOLERANCE < high_water:
        raise ClockTampered(
            "the device clock is behind a time it already showed: check the date and time"
        )
    return checked


def still_valid_here(
    keys: PublicKeys, state: DeviceState, *, fingerprint: str, now: datetime
) -> bool:
    """Whether ``state`` holds a license that still counts on this device: genuine,
    this device's, not expired, and valid when last checked (file age aside)."""
    try:
        license_file = verify_license_file(keys, state.license_file)
    except VerificationError:
        return False
    return (
        license_file.fingerprint == fingerprint
        and state.valid
        and state.status == "active"
        and license_file.expires_at > now
    )


def held_license_key(keys: PublicKeys, state: DeviceState, fingerprint: str) -> str | None:
    """The license key kept here, when its file is genuine (signed by a pinned key, so it
    is this vendor's) and issued to this device; ``None`` otherwise."""
    try:
        license_file = verify_license_file(keys, state.license_file)
    except VerificationError:
        return None
    return license_file.license_key if license_file.fingerprint == fingerprint else None
