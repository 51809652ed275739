"""One support request as the desk reads and works it: found by its number with its
thread and screenshots, each screenshot beside the key read from it, the licenses the
request shows, the customer's account; assignment and statuses.

What an agent writes to the customer is ``replies.py``; what an agent does to codes,
licenses and orders is ``recovery.py`` and ``attaching.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from licensor.accounts.service import normalize_email
from licensor.errors import FormInvalid, LicenseKeyMalformed, LicenseUnknown, NotFound
from licensor.licensing import formats
from licensor.models import (
    Account,
    Attachment,
    License,
    OcrStatus,
    RequestStatus,
    SupportRequest,
)
from licensor.support.attachments import OcrReading, ocr_reading
from licensor.support.desk.thread import (
    KEY_CONFIRMED,
    ThreadEntry,
    entry,
    record_action,
    recorded_actions,
)
from licensor.support.proofs import ShownProof, proofs_of, shown_proofs
from licensor.support.service import WITH_THREAD
from licensor.units import Service

# Statuses an agent may set; a request is ``new`` only until an agent opens it.
SETTABLE = (RequestStatus.OPEN, RequestStatus.WAITING, RequestStatus.SOLVED)


@dataclass(frozen=True)
class Screenshot:
    """An attachment as the desk shows it, beside what OCR read from it."""

    attachment: Attachment
    state: str  # "pending", "failed", "verified", "unverified"
    text: str
    license_key: str | None  # formatted in groups of four, as the window shows it
    license_public_id: str | None  # the license found by a verified key
    license_missing: bool  # verified, but no license has this key


class Desk(Service):
    """A request on the desk, bound to one unit of work."""

    def request(self, number: str, *, lock: bool = False) -> SupportRequest:
        """The request with this number, its thread and screenshots loaded."""
        query = (
            select(SupportRequest)
            .where(SupportRequest.number == number.strip().upper())
            .options(*WITH_THREAD)
        )
        found = self.session.scalar(query.with_for_update() if lock else query)
        if found is None:
            raise NotFound("there is no support request with this number")
        return found

    def open(self, agent: Account, number: str) -> SupportRequest:
        """The request as an agent opens it: a ``new`` one becomes ``open``."""
        request = self.request(number)
        if request.status == RequestStatus.NEW:
            self.set_status(agent, request, RequestStatus.OPEN)
        return request

    def attachment(self, attachment_id: int) -> Attachment:
        """A screenshot of any request, for the desk."""
        attachment = self.session.get(Attachment, attachment_id)
        if attachment is None:
            raise NotFound("there is no such screenshot")
        return attachment

    def customer_account(self, request: SupportRequest) -> Account | None:
        """The request's account, or the account with the request's email."""
        if request.account_id is not None:
            return self.session.get(Account, request.account_id)
        return self.session.scalar(
            select(Account).where(Account.email == normalize_email(request.customer_email))
        )

    # what it shows ---------------------------------------------------------------------

    def thread(self, request: SupportRequest) -> list[ThreadEntry]:
        """Every message and record of the thread, with its staff author's email."""
        staff_ids = {m.author_account_id for m in request.messages if m.author_account_id}
        authors = {
            account_id: email
            for account_id, email in self.session.execute(
                select(Account.id, Account.email).where(Account.id.in_(staff_ids))
            )
        }
        return [entry(message, authors) for message in request.messages]

    def screenshots(self, request: SupportRequest) -> list[Screenshot]:
        """Each screenshot beside the key read from it and the license that key opens."""
        readings = [(a, ocr_reading(self.keyring, a)) for a in request.attachments]
        licenses = self._licenses_read(reading for _, reading in readings)
        shown = []
        for attachment, reading in readings:
            if reading is None:
                failed = attachment.ocr_status == OcrStatus.FAILED
                state = "failed" if failed else "pending"
                shown.append(Screenshot(attachment, state, "", None, None, False))
                continue
            key = reading.license_key
            canonical = _canonical(key) if reading.verified else None
            verified = bool(key and reading.verified)
            license = licenses.get(canonical) if canonical is not None else None
            shown.append(
                Screenshot(
                    attachment,
                    "verified" if verified else "unverified",
                    reading.text,
                    _formatted_key(key),
                    license.public_id if license is not None else None,
                    verified and license is None,
                )
            )
        return shown

    def verified_license_ids(self, request: SupportRequest) -> set[int]:
        """Licenses this request shows: a screenshot's key read with its check value
        holding, or a key an agent read by eye from a screenshot and confirmed."""
        readings = (ocr_reading(self.keyring, a) for a in request.attachments)
        found = {license.id for license in self._licenses_read(readings).values()}
        for action in recorded_actions(request):
            if action.get("action") == KEY_CONFIRMED:
                found.add(int(action["license_id"]))
        # A license proof its device's key signed shows its license as surely.
        found.update(
            proof.license_id
            for proof in proofs_of(self.session, request.id)
            if proof.verified and proof.license_id is not None
        )
        return found

    def proofs(self, request: SupportRequest) -> list[ShownProof]:
        """The license proofs sent with the request, each with its verdict."""
        return shown_proofs(self.session, self.keyring, self.unit.licenses, request.id)

    def _licenses_read(self, readings: Iterable[OcrReading | None]) -> dict[str, License]:
        """The licenses of the verified keys among ``readings``, by canonical key, in one
        query."""
        keys = {
            canonical
            for reading in readings
            if reading is not None and reading.verified
            if (canonical := _canonical(reading.license_key)) is not None
        }
        if not keys:
            return {}
        licenses = self.unit.licenses
        by_index = {licenses.key_index(key): key for key in keys}
        found = self.session.scalars(select(License).where(License.key_index.in_(by_index)))
        return {by_index[license.key_index]: license for license in found}

    # working it ------------------------------------------------------------------------

    def confirm_key(self, agent: Account, request: SupportRequest, text: str) -> License:
        """A license key an agent read by eye from the request's screenshot: checked by
        its check value before lookup, then recorded (thread and audit) as what the
        screenshot shows, which lets the code go to the requester."""
        if not request.attachments:
            raise FormInvalid({"license_key": "no_screenshot"})
        if not text.strip():
            raise FormInvalid({"license_key": "required"})
        try:
            license = self.unit.licenses.find_license(text)
        except LicenseKeyMalformed:
            raise FormInvalid({"license_key": "license_key_malformed"}) from None
        except LicenseUnknown:
            raise FormInvalid({"license_key": "license_key_unknown"}) from None
        record_action(
            request,
            agent,
            self.now,
            KEY_CONFIRMED,
            license_id=license.id,
            public_id=license.public_id,
        )
        self.unit.audit(
            KEY_CONFIRMED,
            subject_type="license",
            subject_id=license.id,
            actor=f"agent:{agent.id}",
            request=request.number,
        )
        return license

    def assign_to_me(self, agent: Account, request: SupportRequest) -> None:
        if request.assignee_id != agent.id:
            request.assignee_id = agent.id
            request.updated_at = self.now
            self.audit(agent, request, "support.request_assigned")

    def set_status(self, agent: Account, request: SupportRequest, status: str) -> None:
        """Move the request to one of the SETTABLE statuses, on the thread and audited."""
        if status not in SETTABLE:
            raise FormInvalid({"status": "status_invalid"})
        new = RequestStatus(status)
        if request.status == new:
            return
        previous = request.status
        request.status = new
        request.solved_at = self.now if new == RequestStatus.SOLVED else None
        request.updated_at = self.now
        record_action(request, agent, self.now, "support.status_changed", status=new)
        self.audit(agent, request, "support.status_changed", previous=previous, status=new)

    def audit(self, agent: Account, request: SupportRequest, action: str, **fields: Any) -> None:
        """An agent's event on the request itself."""
        self.unit.audit(
            action,
            subject_type="support_request",
            subject_id=request.id,
            actor=f"agent:{agent.id}",
            request=request.number,
            **fields,
        )


def _canonical(key: str | None) -> str | None:
    if not key:
        return None
    try:
        return formats.normalize_license_key(key)
    except formats.MalformedError:
        return None


def _formatted_key(key: str | None) -> str | None:
    if not key:
        return None
    canonical = _canonical(key)
    return formats.format_license_key(canonical) if canonical is not None else key
