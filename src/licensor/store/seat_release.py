"""Seats full, self-service (issue 14, item 12): a one-time link, mailed to a license's
owner of record, that frees one of its seats without signing in.

The app that met the device limit asks for the link with the code (or license key) it
holds. The link goes to the address of record only — the account holding the license,
else the address of the order that delivered its code — never to an address the requester
gives, so holding a code (which others may have seen) moves nothing by itself: the owner
decides, from their mailbox. The request is answered the same whatever was sent (no
answer says whether a license exists, has an owner, or was mailed), and at most
``LINKS_PER_DAY`` links a day go to one license's owner, so nobody can bury them in mail.

The token is random, stored as a keyed hash (a copy of the database opens no link), good
for ``LINK_HOURS`` and once. Freeing a seat is audited (``licensing.seat_released``,
``released_by`` ``owner_link``) and told to the owner by mail. This lives in the store
because the order's address is the store's to know.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from licensor.clock import mail_time
from licensor.errors import CodeUnknown, LicenseUnknown
from licensor.licensing.seats import (
    DEVICES_PATH,
    Seat,
    devices_limit,
    live_seats,
    owner_of_record,
)
from licensor.logging import log
from licensor.models import Account, License, Order, SeatReleaseToken
from licensor.units import Service

LINK_HOURS = 24
LINKS_PER_DAY = 3  # per license: what one owner may be sent, however often it is asked
RELEASE_PATH = "/seat-release/"
RELEASED_BY = "owner_link"
_TOKEN_PURPOSE = b"seat_release_link"


@dataclass(frozen=True)
class Owner:
    """Where a license's owner of record is written to, and in which language."""

    email: str
    language: str


@dataclass(frozen=True)
class ReleaseChoice:
    """What the page behind the link offers: the license and its live seats."""

    plan_name: str
    public_id: str
    devices_max: int
    seats: list[Seat]
    link_expires_at: datetime


@dataclass(frozen=True)
class FreedSeat:
    device_name: str
    plan_name: str
    public_id: str


class SeatRelease(Service):
    """The mailed link that frees a seat (``unit.seat_release``)."""

    # asking -------------------------------------------------------------------------

    def request_link(
        self,
        *,
        activation_code: str | None,
        license_key: str | None,
        fingerprint: str,
        device_name: str,
    ) -> None:
        """Mail a one-time link to the owner of the license this code (or key) belongs to.
        Nothing is said back: an unknown code, a license with no owner of record, or an
        owner already sent ``LINKS_PER_DAY`` links gets the same silence. A code that
        fails its check value is still ``code_malformed`` (the check is public)."""
        license = self._license(activation_code, license_key)
        if license is None or license.blocked_at is not None:
            return
        owner = self.owner(license)
        if owner is None:
            log.info("licensing.seat_release_link_no_owner", license_id=license.id)
            return
        if self._links_sent_today(license) >= LINKS_PER_DAY:
            log.info("licensing.seat_release_link_withheld", license_id=license.id)
            return
        token = secrets.token_urlsafe(32)
        self.session.add(
            SeatReleaseToken(
                token_hash=self._digest(token),
                license_id=license.id,
                email=owner.email,
                created_at=self.now,
                expires_at=self.now + timedelta(hours=LINK_HOURS),
            )
        )
        seats = self._seats(license)
        self.send_mail(
            owner.email,
            owner.language,
            "seat_release_link",
            plan=license.plan.name,
            public_id=license.public_id,
            device=device_name,
            devices=[(seat.name, mail_time(seat.last_seen_at)) for seat in seats],
            devices_max=devices_limit(license),
            hours=LINK_HOURS,
            link=self.settings.url(RELEASE_PATH + token),
            devices_link=self.settings.url(DEVICES_PATH),
        )
        self.unit.audit(
            "licensing.seat_release_link_sent",
            subject_type="license",
            subject_id=license.id,
            fingerprint=fingerprint,
        )

    def _license(self, activation_code: str | None, license_key: str | None) -> License | None:
        try:
            if activation_code:
                return self.unit.codes.find_code(activation_code).license
            if license_key:
                return self.unit.licenses.find_license(license_key)
        except (CodeUnknown, LicenseUnknown):
            return None
        return None

    def owner(self, license: License) -> Owner | None:
        """The account holding the license, else the order that delivered its code."""
        account_id, order_id = owner_of_record(self.session, license)
        if account_id is not None:
            account = self.session.get(Account, account_id)
            if account is not None:
                return Owner(account.email, account.language)
        if order_id is not None:
            order = self.session.get(Order, order_id)
            if order is not None:
                return Owner(order.customer_email, order.language)
        return None

    def _seats(self, license: License) -> list[Seat]:
        """The license's live seats, its devices named as its owner of record sees them."""
        account_id, _ = owner_of_record(self.session, license)
        return live_seats(self.session, self.keyring, license.id, owner_account_id=account_id)

    def _links_sent_today(self, license: License) -> int:
        sent = self.session.scalar(
            select(func.count(SeatReleaseToken.id)).where(
                SeatReleaseToken.license_id == license.id,
                SeatReleaseToken.created_at > self.now - timedelta(days=1),
            )
        )
        return sent or 0

    # following the link ---------------------------------------------------------------

    def choice(self, token: str) -> ReleaseChoice | None:
        """The license and its seats behind a live link; ``None`` for a link unknown,
        used or expired. Reading changes nothing (mail scanners open links)."""
        link = self._live_link(token, lock=False)
        if link is None:
            return None
        license = self.unit.licenses.get_license(link.license_id)
        return ReleaseChoice(
            plan_name=license.plan.name,
            public_id=license.public_id,
            devices_max=devices_limit(license),
            seats=self._seats(license),
            link_expires_at=link.expires_at,
        )

    def free(self, token: str, seat_reference: str) -> FreedSeat | None:
        """Free the seat ``seat_reference`` names, and use the link up. ``None`` when the
        link is no longer live; ``LookupError`` when that seat is no longer taken (freed
        meanwhile: the link stays good for another)."""
        link = self._live_link(token, lock=True)
        if link is None:
            return None
        license = self.unit.licenses.get_license(link.license_id, lock=True)
        seat = next(
            (
                seat
                for seat in self._seats(license)
                if hmac.compare_digest(seat.reference, seat_reference)
            ),
            None,
        )
        if seat is None:
            raise LookupError(seat_reference)
        self.unit.licensing.release_seats(
            license, activation_id=seat.activation_id, released_by=RELEASED_BY
        )
        link.used_at = self.now
        self.unit.audit(
            "licensing.seat_released",
            subject_type="license",
            subject_id=license.id,
            released_by=RELEASED_BY,
            activation_id=seat.activation_id,
        )
        owner = self.owner(license)
        self.send_mail(
            link.email,
            owner.language if owner is not None else "en",
            "seat_freed",
            plan=license.plan.name,
            public_id=license.public_id,
            device=seat.name,
            when=mail_time(self.now),
            devices_link=self.settings.url(DEVICES_PATH),
        )
        self.session.flush()
        return FreedSeat(seat.name, license.plan.name, license.public_id)

    def _live_link(self, token: str, *, lock: bool) -> SeatReleaseToken | None:
        query = select(SeatReleaseToken).where(SeatReleaseToken.token_hash == self._digest(token))
        if lock:
            query = query.with_for_update()
        link = self.session.scalars(query).first()
        if link is None or link.used_at is not None or link.expires_at <= self.now:
            return None
        return link

    def _digest(self, token: str) -> bytes:
        """The token as stored: a keyed hash, so the table alone opens no link."""
        return self.keyring.mac(token, purpose=_TOKEN_PURPOSE)
