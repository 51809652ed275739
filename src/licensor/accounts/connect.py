"""Connecting a device to an account by a short code (F10, RFC 8628's device grant): the
app asks for a pair of codes, shows the short one, and polls with the long one while the
signed-in customer types the short one in My Account (``/account/connect``).

Only licenses the app proved it holds (their keys, each seated on the device) may join
the account: the fingerprint alone is an identifier, not a secret.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select

from licensor.accounts.licenses import LinkedLicense
from licensor.errors import (
    AuthorizationPending,
    DeviceCodeExpired,
    LicenseKeyMalformed,
    LicenseUnknown,
    UserCodeUnknown,
)
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    Device,
    DeviceAuthorization,
    License,
)
from licensor.units import Service

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no words, no look-alikes
USER_CODE_LENGTH = 8
CONNECT_MINUTES = 10
POLL_SECONDS = 5


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def normalize_user_code(text: str) -> str:
    """The short code as typed, in any case, with or without its hyphen or spaces."""
    return "".join(ch for ch in text.upper() if ch in USER_CODE_ALPHABET)


def format_user_code(code: str) -> str:
    """The short code as the app shows it: ``BCDF-GHJK``."""
    return f"{code[:4]}-{code[4:]}"


class Connect(Service):
    """The device grant's three steps: start (the app), approve (My Account), poll (the app)."""

    def start(
        self, fingerprint: str, name: str, platform: str, license_keys: list[str] | None = None
    ) -> tuple[str, str]:
        """(device_code, user_code): the app keeps the first, shows the second.

        ``license_keys`` are the app's proof of possession: each key that holds (check
        value, a known license, a live seat on this fingerprint) is recorded, and only
        those licenses may join the account on approval. Others are ignored without a
        word, so the answer is no oracle for keys."""
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        self.session.add(
            DeviceAuthorization(
                device_code_hash=_digest(device_code),
                user_code=user_code,
                fingerprint=fingerprint,
                device_name=name,
                platform=platform,
                created_at=self.now,
                expires_at=self.now + timedelta(minutes=CONNECT_MINUTES),
                proven_license_ids=self._proven(fingerprint, license_keys or []),
            )
        )
        return device_code, user_code

    def _proven(self, fingerprint: str, license_keys: list[str]) -> list[int]:
        """Ids of the licenses whose key is given and that hold a live seat on the device."""
        licensing = self.unit.licensing
        proven: list[int] = []
        for text in license_keys:
            try:
                license = self.unit.licenses.find_license(text)
            except (LicenseKeyMalformed, LicenseUnknown):
                continue
            if license.id not in proven and licensing.device_seat(license, fingerprint):
                proven.append(license.id)
        return proven

    def approve(self, account: Account, user_code_text: str) -> list[LinkedLicense]:
        """The signed-in customer typed the app's code: join the licenses the app proved
        it holds (their keys, each still seated on the device) to the account, as the
        app's "Recover my activation codes" would, and connect the device when one did.
        The fingerprint alone joins nothing: it is an identifier, not a secret."""
        user_code = normalize_user_code(user_code_text)
        grant = self.session.scalar(
            select(DeviceAuthorization)
            .where(
                DeviceAuthorization.user_code == user_code,
                DeviceAuthorization.approved_at.is_(None),
                DeviceAuthorization.expires_at > self.now,
            )
            .with_for_update()
        )
        if grant is None or len(user_code) != USER_CODE_LENGTH:
            raise UserCodeUnknown()
        grant.approved_at = self.now
        grant.account_id = account.id
        licensing, licenses = self.unit.licensing, self.unit.account_licenses
        linked: list[LinkedLicense] = []
        for license_id in grant.proven_license_ids or []:
            code_id = self.session.scalar(select(License.code_id).where(License.id == license_id))
            if code_id is None:
                continue  # a subscription's license: no code to join
            # Locked as activation locks it (the code first), so two approvals cannot race.
            code = self.unit.codes.get_code(code_id, lock=True)
            license = code.license
            seat = licensing.device_seat(license, grant.fingerprint) if license else None
            if seat is None:
                continue  # released since the app asked
            if code.account_id not in (None, account.id):
                continue  # another account's: never moved, and not said here
            linked.append(licenses.attach(account, code, license, seat.device, via="device_code"))
        return linked

    def joined_public_ids(self, grant: DeviceAuthorization, account: Account) -> list[str]:
        """The licenses this connection proved that are now the account's, still seated
        on the device: what the app is told joined."""
        proven = grant.proven_license_ids or []
        if not proven:
            return []
        return list(
            self.session.scalars(
                select(License.public_id)
                .join(ActivationCode, ActivationCode.id == License.code_id)
                .join(Activation, Activation.license_id == License.id)
                .join(Device, Device.id == Activation.device_id)
                .where(
                    License.id.in_(proven),
                    ActivationCode.account_id == account.id,
                    Device.fingerprint == grant.fingerprint,
                    Activation.released_at.is_(None),
                )
                .order_by(License.id)
            )
        )

    def poll(self, device_code: str) -> DeviceAuthorization:
        """The approved grant, spent now; AuthorizationPending until the code is typed,
        DeviceCodeExpired once it is spent or too old."""
        grant = self.session.scalar(
            select(DeviceAuthorization).where(
                DeviceAuthorization.device_code_hash == _digest(device_code)
            )
        )
        if grant is None or grant.consumed_at is not None:
            raise DeviceCodeExpired()
        if grant.approved_at is None:
            if grant.expires_at <= self.now:
                raise DeviceCodeExpired()
            raise AuthorizationPending()
        grant.consumed_at = self.now
        return grant
