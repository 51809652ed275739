"""An account's licenses: the Licenses section of My Account, and joining a license and its
code to the account — from the app (F4), typed on the page, from a connected device (F10)
or by support (F7).

A code never moves silently: the owner is told, and so is the address of the order that
delivered it when that is someone else's. A code already in another account is refused,
never moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from licensor.accounts.service import mask_email, normalize_email
from licensor.clock import mail_time
from licensor.errors import LicenseLinkedElsewhere, LicenseNotOnDevice
from licensor.keys import Keyring, b64url
from licensor.licensing import formats
from licensor.licensing.codes import CODE_WITH_LICENSE, code_state
from licensor.licensing.seats import devices_limit
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    CodeState,
    Device,
    License,
    Order,
)
from licensor.units import Service
from licensor.webhooks import events

CODE_HANDLE_PURPOSE = b"account_code_page"


def code_handle(keyring: Keyring, code_id: int) -> str:
    """How My Account's address names a code that has no license yet: a keyed hash of its
    row id, so the address carries neither the code nor a count of codes issued."""
    return b64url(keyring.blind_index(str(code_id), purpose=CODE_HANDLE_PURPOSE))


def code_page(keyring: Keyring, code_id: int) -> str:
    """The path of the page of a code of the account that has not activated yet."""
    return f"/account/licenses/codes/{code_handle(keyring, code_id)}"


@dataclass(frozen=True)
class LicenseRow:
    """A code of the account as the Licenses section lists it, in full."""

    code: str
    plan: str
    status: CodeState
    expires_at: datetime | None
    devices_used: int
    devices_max: int
    public_id: str | None
    page: str  # its license's page, or (not activated yet) the code's own
    # A code kept in reserve: the public ID of the license it extends (its page is that
    # license's: docs/reserve-codes.md).
    reserved_for: str | None = None


@dataclass(frozen=True)
class LinkedLicense:
    public_id: str
    plan: str
    already_linked: bool


class AccountLicenses(Service):
    """The codes and licenses of one account, and how they join it."""

    def of_account(self, account: Account) -> list[LicenseRow]:
        """Every code in the account, newest first, with its license's seats in use."""
        codes = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.account_id == account.id)
            .options(*CODE_WITH_LICENSE)
            .order_by(ActivationCode.linked_at.desc(), ActivationCode.id.desc())
        ).all()
        counted = self.session.execute(
            select(Activation.license_id, func.count(Activation.id))
            .where(
                Activation.license_id.in_([code.license.id for code in codes if code.license]),
                Activation.released_at.is_(None),
            )
            .group_by(Activation.license_id)
        )
        seats_used = {license_id: used for license_id, used in counted}
        reserved_ids = {code.reserved_for_id for code in codes if code.reserved_for_id}
        reserved_for: dict[int, str] = {}
        if reserved_ids:
            rows = self.session.execute(
                select(License.id, License.public_id).where(License.id.in_(reserved_ids))
            )
            reserved_for = {license_id: public_id for license_id, public_id in rows}
        reveal = self.unit.codes.reveal_code
        return [
            LicenseRow(
                code=formats.format_code(reveal(code)),
                plan=code.plan.name,
                status=code_state(code, self.now),
                expires_at=code.license.expires_at if code.license else None,
                devices_used=seats_used.get(code.license.id, 0) if code.license else 0,
                devices_max=devices_limit(code.license) if code.license else code.plan.devices_max,
                public_id=code.license.public_id if code.license else None,
                page=self._page_of(code, reserved_for),
                reserved_for=reserved_for.get(code.reserved_for_id or 0),
            )
            for code in codes
        ]

    def _page_of(self, code: ActivationCode, reserved_for: dict[int, str]) -> str:
        """Its license's page; a reserve code's is the page of the license it extends
        (which shows it); else the code's own."""
        if code.license:
            return f"/account/licenses/{code.license.public_id}"
        if code.reserved_for_id in reserved_for:
            return f"/account/licenses/{reserved_for[code.reserved_for_id]}"
        return code_page(self.keyring, code.id)

    def link_license(
        self, account: Account, license_key: str, fingerprint: str, *, via: str
    ) -> LinkedLicense:
        """Join a license (and its code) to the account, from a device that holds a seat.

        A license already in another account is refused, never moved (F4).
        """
        license = self.unit.licenses.find_license(license_key, lock=True)
        seat = self.unit.licensing.device_seat(license, fingerprint)
        if seat is None:
            raise LicenseNotOnDevice()
        code = license.activation_code
        if code is None:
            raise LicenseNotOnDevice("this license has no activation code to add")
        return self.attach(account, code, license, seat.device, via=via)

    def link_code(self, account: Account, code_text: str) -> LinkedLicense:
        """Add a code typed on the Licenses page: possession of the code is the proof.
        A code that could not activate yet because its sale is not recorded cannot be
        claimed either (``CodeNotSold``): a stolen, unsold card is worth nothing."""
        codes = self.unit.codes
        code = codes.find_code(code_text, lock=True)
        if code.license is None:
            codes.require_sale(code)
        return self.attach(account, code, code.license, None, via="web")

    def attach(
        self,
        account: Account,
        code: ActivationCode,
        license: License | None,
        device: Device | None,
        *,
        via: str,
        order_told_by_caller: bool = False,
        joined_with_order: bool = False,
    ) -> LinkedLicense:
        """Join a code (read with its plan) and its license to the account: ``via`` says
        how (``app``, ``web``, ``device_code``, ``support``). The account shows the code
        in full, so the owner is told, and so is the order's own address when it is
        another (unless ``order_told_by_caller``: the desk asks that address first and
        tells it once for a whole order): a code never moves silently. A code in another
        account is refused, never moved. ``joined_with_order``: its whole order joined
        from an address the account verified (accounts/purchases.py), whose one mail
        for the order stands for a mail per code."""
        public_id = license.public_id if license else "—"
        devices = self.unit.account_devices
        if code.account_id == account.id:
            if device is not None:
                devices.connect(account, device)
            return LinkedLicense(public_id, code.plan.code, already_linked=True)
        actor = f"account:{account.id}"
        if code.account_id is not None:
            self.unit.audit(
                "accounts.license_link_refused",
                actor=actor,
                subject_type="activation_code",
                subject_id=code.id,
                via=via,
            )
            raise LicenseLinkedElsewhere()
        code.account_id = account.id
        code.linked_at = self.now
        if device is not None:
            devices.connect(account, device)
        if joined_with_order:
            told: str | None = "with_order"
        elif order_told_by_caller:
            told = "by_support"
        else:
            told = self._tell_order(account, code, license, via)
        self.unit.audit(
            "accounts.license_linked",
            actor=actor,
            subject_type="activation_code",
            subject_id=code.id,
            via=via,
            public_id=public_id,
            told=told,
        )
        events.recovered(self.unit, "account_link", public_id=public_id, plan=code.plan.code)
        if joined_with_order:
            return LinkedLicense(public_id, code.plan.code, already_linked=False)
        self.send_mail(
            account.email,
            account.language,
            "license_added",
            plan=code.plan.name,
            public_id=license.public_id if license else None,  # None: never activated yet
            when=mail_time(self.now),
            device=device.name if device else None,  # None: typed on the Licenses page
            link=self.settings.url("/account/licenses"),
        )
        return LinkedLicense(public_id, code.plan.code, already_linked=False)

    def _tell_order(
        self, account: Account, code: ActivationCode, license: License | None, via: str
    ) -> str | None:
        """Mail the address of the order that delivered the code (ours or a partner's)
        when it is not the account's: its code is now shown in full in someone's
        account. The masked address told, for the audit row, or None."""
        if code.order_id is None:
            return None
        order = self.session.get(Order, code.order_id)
        if order is None or normalize_email(order.customer_email) == account.email:
            return None
        self.send_mail(
            order.customer_email,
            order.language,
            "license_joined_account",
            plan=code.plan.name,
            public_id=license.public_id if license else None,
            code=formats.mask_code(self.unit.codes.reveal_code(code)),
            account=mask_email(account.email),
            order_number=order.number,
            when=mail_time(self.now),
            via=via,
            support=self.settings.url("/support"),
        )
        return mask_email(order.customer_email)
