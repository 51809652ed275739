"""One license of an account, as its page in My Account shows it: the code in full, the
license key and public ID, plan, term, devices, and what happened to it; and the owner's
own "Replace this code" for a code that leaked or was shared.

Only the account that holds the license's code sees the page: any other public ID, known
or not, is the same ``NotFound``. Replacing moves a code, so it asks for proof of the
signed-in person (the password, or the second factor where one is enrolled), is throttled
as sign-in is by the page, and is audited and mailed to the owner.
"""

from __future__ import annotations

import hmac
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from licensor.accounts import passwords
from licensor.accounts.devices import device_tag
from licensor.accounts.license_history import HistoryEntry, license_history
from licensor.accounts.licenses import code_handle, code_page
from licensor.clock import mail_time
from licensor.errors import FormInvalid, NotFound
from licensor.licensing import formats
from licensor.licensing.codes import code_state
from licensor.licensing.licenses import license_status
from licensor.licensing.seats import devices_limit, seat_device_name
from licensor.models import (
    Account,
    Activation,
    ActivationCode,
    CodeState,
    Device,
    License,
    LicenseStatus,
    Order,
)
from licensor.units import Service
from licensor.webhooks import events

REPLACED_BY_OWNER = "replaced by owner"


@dataclass(frozen=True)
class SeatRow:
    """A device holding a seat of the license now."""

    name: str  # seat_device_name: the owner's name for it only if it is the owner's device
    tag: str  # device_tag, as the Devices page shows it
    label: str  # the name, with the tag where another seat's device has the same name
    platform: str
    first_activated_at: datetime  # this device's first activation of this license
    last_seen_at: datetime


@dataclass(frozen=True)
class LicenseDetail:
    public_id: str
    code: str  # in full, formatted
    code_state: CodeState
    license_key: str  # formatted, 32 hex digits
    plan_code: str
    plan_name: str
    term_days: int
    status: LicenseStatus  # active, expired or blocked
    starts_at: datetime
    expires_at: datetime
    devices_max: int
    seats: list[SeatRow]
    history: list[HistoryEntry]
    sold_in_store: bool  # the plan can be bought again in the store (renewal)

    @property
    def replaceable(self) -> bool:
        """Whether its owner may replace its code (a blocked code is the vendor's call)."""
        return self.code_state != CodeState.BLOCKED and self.status != LicenseStatus.BLOCKED


@dataclass(frozen=True)
class CodeDetail:
    """A code of the account that has not activated yet, as its page shows it."""

    handle: str
    code: str  # in full, formatted
    code_state: CodeState  # issued or blocked
    plan_code: str
    plan_name: str
    term_days: int
    devices_max: int
    order_number: str | None  # the order that delivered it, if any
    purchased_at: datetime | None
    # Set once the code has activated: its page is then its license's.
    activated_as: str | None = None

    @property
    def replaceable(self) -> bool:
        return self.code_state != CodeState.BLOCKED


class LicenseDetails(Service):
    """A license of one account, and its owner's replacement of its code."""

    def of_account(self, account: Account, public_id: str) -> LicenseDetail:
        """The license with this public ID if the account holds its code; else NotFound,
        the same for a license of someone else's as for none."""
        license = self._license(account, public_id, lock=False)
        code = license.activation_code
        assert code is not None
        seats = self.session.scalars(
            select(Activation)
            .where(Activation.license_id == license.id)
            .options(joinedload(Activation.device, innerjoin=True))
            .order_by(Activation.activated_at, Activation.id)
        ).all()
        first: dict[int, datetime] = {}
        for seat in seats:
            first.setdefault(seat.device_id, seat.activated_at)

        def name_of(device: Device) -> str:
            return seat_device_name(device, owner_account_id=account.id)

        held = [seat for seat in seats if seat.released_at is None]
        repeated = Counter(name_of(seat.device).casefold() for seat in held)
        live = []
        for seat in held:
            name = name_of(seat.device)
            tag = device_tag(self.keyring, seat.device.fingerprint)
            live.append(
                SeatRow(
                    name=name,
                    tag=tag,
                    label=f"{name} \u00b7 {tag}" if repeated[name.casefold()] > 1 else name,
                    platform=seat.device.platform or "—",
                    first_activated_at=first[seat.device_id],
                    last_seen_at=max(seat.last_validated_at, seat.device.last_seen_at),
                )
            )
        plan = license.plan
        return LicenseDetail(
            public_id=license.public_id,
            code=formats.format_code(self.unit.codes.reveal_code(code)),
            code_state=code_state(code, self.now),
            license_key=formats.format_license_key(self.unit.licenses.reveal_license_key(license)),
            plan_code=plan.code,
            plan_name=plan.name,
            term_days=plan.term_days,
            status=license_status(license, self.now),
            starts_at=license.starts_at,
            expires_at=license.expires_at,
            devices_max=devices_limit(license),
            seats=live,
            history=license_history(self.session, license, code, seats, name_of),
            sold_in_store=plan.price_cents is not None and plan.retired_at is None,
        )

    def replace_code(
        self, account: Account, public_id: str, *, password: str, second_factor: str
    ) -> str:
        """The owner's "Replace this code": the old code is blocked, a new one takes over
        the same license (its devices keep their seats), the owner is mailed and the
        action audited; the new code, formatted.

        Proof first, before anything is written: the second factor where the account has
        one (a code from the app, or a recovery code), else the password."""
        license = self._license(account, public_id, lock=True)
        code = license.activation_code
        assert code is not None
        self._prove(account, password=password, second_factor=second_factor)
        if code.state == CodeState.BLOCKED or license.blocked_at is not None:
            raise NotFound()  # the page offers no replacement for a blocked license
        _, canonical = self._replace(account, code, license)
        return formats.format_code(canonical)

    def code_of_account(self, account: Account, handle: str) -> CodeDetail:
        """A code of the account that has no license yet, by its handle (``code_handle``);
        NotFound for any other handle, whoever's code it names. A code that has since
        activated says so (``activated_as``: its license's public ID)."""
        code = self.unit.codes.get_code(self._code_id(account, handle))
        order = self.session.get(Order, code.order_id) if code.order_id is not None else None
        plan = code.plan
        return CodeDetail(
            handle=handle,
            code=formats.format_code(self.unit.codes.reveal_code(code)),
            code_state=code_state(code, self.now),
            plan_code=plan.code,
            plan_name=plan.name,
            term_days=plan.term_days,
            devices_max=plan.devices_max,
            order_number=order.number if order is not None else None,
            purchased_at=order.purchased_at if order is not None else None,
            activated_as=code.license.public_id if code.license is not None else None,
        )

    def replace_unused_code(
        self, account: Account, handle: str, *, password: str, second_factor: str
    ) -> str:
        """ "Replace this code" for a code of the account that never activated: it is
        blocked (it can never activate) and a new code of the same plan, origin and order
        takes its place in the account; mailed and audited as for a license's code. The
        new code's handle. The same proof first."""
        code_id = self._code_id(account, handle)
        code = self.unit.codes.get_code(code_id, lock=True)
        # Activated, moved or replaced while the lock was awaited: no longer this page's.
        if code.account_id != account.id or code.license is not None:
            raise NotFound()
        self._prove(account, password=password, second_factor=second_factor)
        if code.state == CodeState.BLOCKED:
            raise NotFound()
        replacement, _ = self._replace(account, code, None)
        return code_handle(self.keyring, replacement.id)

    def _prove(self, account: Account, *, password: str, second_factor: str) -> None:
        """The signed-in person's proof, before anything is written: the second factor
        where the account has one (a code from the app, or a recovery code), else the
        password."""
        actor = f"account:{account.id}"
        if account.totp_secret_ciphertext is not None:
            if not self.unit.two_factor.verify(account, second_factor, actor=actor):
                raise FormInvalid({"second_factor": "second_factor_wrong"})
        elif not passwords.verify_password(account.password_hash, password):
            raise FormInvalid({"password": "password_wrong"})

    def _replace(
        self, account: Account, code: ActivationCode, license: License | None
    ) -> tuple[ActivationCode, str]:
        """Block the owner's locked code for a new one (``Codes.replace``, the desk's rule
        too), audit it and mail the owner; the new code and its clear text."""
        actor = f"account:{account.id}"
        codes = self.unit.codes
        old = formats.mask_code(codes.reveal_code(code))
        replacement, canonical = codes.replace(code, reason=REPLACED_BY_OWNER, actor=actor)
        public_id = license.public_id if license is not None else None
        self.unit.audit(
            "accounts.code_replaced",
            actor=actor,
            subject_type="activation_code",
            subject_id=code.id,
            public_id=public_id,
            code=old,
            replacement=formats.mask_code(canonical),
            replacement_id=replacement.id,
        )
        events.recovered(self.unit, "self_service_replace", public_id=public_id)
        page = (
            f"/account/licenses/{public_id}"
            if public_id is not None
            else code_page(self.keyring, replacement.id)
        )
        self.send_mail(
            account.email,
            account.language,
            "code_replaced",
            plan=code.plan.name,
            public_id=public_id,  # None: the code had not activated yet
            old_code_end=old[-5:],
            when=mail_time(self.now),
            link=self.settings.url(page),
            reset=self.settings.url("/reset-password"),
            support=self.settings.url("/support"),
        )
        return replacement, canonical

    def _code_id(self, account: Account, handle: str) -> int:
        """The id of the account's code with this handle, else NotFound. The account's
        codes are few: each one's handle is computed and compared."""
        for code_id in self.session.scalars(
            select(ActivationCode.id).where(ActivationCode.account_id == account.id)
        ):
            if hmac.compare_digest(code_handle(self.keyring, code_id), handle):
                return code_id
        raise NotFound()

    def _license(self, account: Account, public_id: str, *, lock: bool) -> License:
        """The license with this public ID whose code is in the account (``lock``: its
        row locked, after its code's: the order activation takes them in)."""
        found = self.session.execute(
            select(License.id, ActivationCode.id)
            .join(ActivationCode, ActivationCode.id == License.code_id)
            .where(License.public_id == public_id, ActivationCode.account_id == account.id)
        ).first()
        if found is None:
            raise NotFound()
        license_id, code_id = found
        if lock:
            self.unit.codes.get_code(code_id, lock=True)
        license = self.unit.licenses.get_license(license_id, lock=lock)
        code = license.activation_code
        # Moved meanwhile (or, locked, replaced by a request that held the lock first: the
        # code locked must be the one acted on, lest a new code be taken unlocked).
        if code is None or code.account_id != account.id or (lock and code.id != code_id):
            raise NotFound()
        return license
