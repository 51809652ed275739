"""The agent desk's rules for requests: the queue, a request's thread and screenshots,
statuses, assignment, replies and internal notes.

What an agent does to codes, licenses and orders from a request lives in
``recovery.py``; each such action is written on the request's thread here
(``record_action``), as an internal entry the customer never sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from licensor.audit import audit
from licensor.errors import FormInvalid, LicenseKeyMalformed, LicenseUnknown, NotFound
from licensor.licensing import formats
from licensor.models import (
    Account,
    Attachment,
    Author,
    License,
    OcrStatus,
    RequestStatus,
    SupportMessage,
    SupportRequest,
    Topic,
)
from licensor.store.service import order_number_key
from licensor.support.attachments import ocr_reading
from licensor.support.redaction import carries_code, carries_license_key
from licensor.units import Service
from licensor.web.i18n import N_, translator

PAGE_SIZE = 25
MAX_BODY = 10_000
# Statuses an agent may set; a request is ``new`` only until an agent opens it.
SETTABLE = (RequestStatus.OPEN, RequestStatus.WAITING, RequestStatus.SOLVED)
ASSIGNEES = ("all", "mine", "unassigned")
KEY_CONFIRMED = "support.key_confirmed"  # an agent read the key on a screenshot by eye
# An activation code as people write it (four groups of five, or twenty in a row), and a
# license key (eight groups of four hex digits, or 32 in a row): kept out of the thread,
# which is stored in clear.
# Replies an agent picks instead of typing: English ids, translated into the request's
# language (not the agent's) from the page catalog.
CANNED_REPLIES: dict[str, tuple[str, str]] = {
    "need_screenshot": (
        N_("Ask for a screenshot of License details"),
        N_(
            "To find your license, please send us a screenshot of the License details "
            "window: in the app, open License, then Show details, then Save screenshot, "
            "and attach the picture to your answer."
        ),
    ),
    "need_order": (
        N_("Ask for the order details"),
        N_(
            "To find your purchase, please tell us the order number, the purchase date, "
            "and the name and email address used to buy."
        ),
    ),
    "sign_up": (
        N_("Ask the customer to create an account"),
        N_(
            "To add your purchase to My Account, please create an account with the email "
            "address you used when you bought, then answer this message."
        ),
    ),
    "done": (
        N_("Done: we are closing the request"),
        N_(
            "We have done what you asked. If anything is still not right, answer this "
            "message and we will look again."
        ),
    ),
}


@dataclass(frozen=True)
class QueueFilter:
    status: str = ""
    topic: str = ""
    assignee: str = "all"
    q: str = ""
    page: int = 1


@dataclass(frozen=True)
class QueuePage:
    requests: list[SupportRequest]
    counts: dict[str, int]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class Screenshot:
    """An attachment as the desk shows it, beside what OCR read from it."""

    attachment: Attachment
    state: str  # "pending", "failed", "verified", "unverified"
    text: str
    license_key: str | None  # formatted in groups of four, as the window shows it
    license_public_id: str | None  # the license found by a verified key
    license_missing: bool  # verified, but no license has this key


@dataclass(frozen=True)
class ThreadEntry:
    message: SupportMessage
    kind: str  # "customer", "reply", "note", "action"
    author_email: str | None
    action: dict[str, Any] | None  # an action entry's fields


def record_action(
    request: SupportRequest, agent: Account | None, now: datetime, action: str, **fields: Any
) -> None:
    """Write an agent's action on the request's thread, internal: what, who, why
    (``agent`` None: not staff, such as an order's owner answering a mailed link).

    The body is data (``action`` and its fields), so the desk shows it in the reading
    agent's language."""
    request.messages.append(
        SupportMessage(
            author=Author.SYSTEM,
            author_account_id=agent.id if agent is not None else None,
            internal=True,
            body=json.dumps({"action": action, **fields}, ensure_ascii=False),
            created_at=now,
        )
    )
    request.updated_at = now


class Desk(Service):
    """The desk's request rules bound to one unit of work."""

    # the queue -----------------------------------------------------------------------

    def queue(self, agent: Account, wanted: QueueFilter) -> QueuePage:
        """Requests matching the filters, newest activity first, a page at a time, and
        how many match each status (the other filters applied)."""
        narrowed = self._conditions(agent, wanted)
        query = select(SupportRequest).where(*narrowed)
        counted = (
            select(SupportRequest.status, func.count(SupportRequest.id))
            .where(*narrowed)
            .group_by(SupportRequest.status)
        )
        counts = {status.value: 0 for status in RequestStatus}
        for status, count in self.session.execute(counted):
            counts[status] = count
        if wanted.status in counts:
            query = query.where(SupportRequest.status == wanted.status)
        total = counts[wanted.status] if wanted.status in counts else sum(counts.values())
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, wanted.page), pages)
        rows = self.session.scalars(
            query.order_by(SupportRequest.updated_at.desc(), SupportRequest.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        return QueuePage(list(rows), counts, total, page, pages)

    def _conditions(self, agent: Account, wanted: QueueFilter) -> list[ColumnElement[bool]]:
        """Every filter but the status (the counts are per status)."""
        conditions: list[ColumnElement[bool]] = []
        if wanted.topic in {topic.value for topic in Topic}:
            conditions.append(SupportRequest.topic == wanted.topic)
        if wanted.assignee == "mine":
            conditions.append(SupportRequest.assignee_id == agent.id)
        elif wanted.assignee == "unassigned":
            conditions.append(SupportRequest.assignee_id.is_(None))
        text = wanted.q.strip()
        if text:
            pattern = f"%{_escape_like(text)}%"
            in_messages = select(SupportMessage.request_id).where(
                SupportMessage.body.ilike(pattern, escape="\\"),
                SupportMessage.author == Author.CUSTOMER,
            )
            conditions.append(
                or_(
                    SupportRequest.number == text.upper(),
                    SupportRequest.customer_email.ilike(pattern, escape="\\"),
                    SupportRequest.customer_name.ilike(pattern, escape="\\"),
                    SupportRequest.subject.ilike(pattern, escape="\\"),
                    func.upper(SupportRequest.order_number).like(
                        f"%{_escape_like(text.upper())}%", escape="\\"
                    ),
                    func.upper(SupportRequest.order_number) == order_number_key(text),
                    SupportRequest.id.in_(in_messages),
                )
            )
        return conditions

    # one request -----------------------------------------------------------------------

    def request(self, number: str, *, lock: bool = False) -> SupportRequest:
        query = select(SupportRequest).where(SupportRequest.number == number.strip().upper())
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

    def thread(self, request: SupportRequest) -> list[ThreadEntry]:
        authors = {
            account.id: account.email
            for account in self.session.scalars(
                select(Account).where(
                    Account.id.in_(
                        {m.author_account_id for m in request.messages if m.author_account_id}
                    )
                )
            )
        }
        entries = []
        for message in request.messages:
            action = None
            if message.author == Author.SYSTEM:
                kind = "action"
                action = json.loads(message.body)
            elif message.author == Author.CUSTOMER:
                kind = "customer"
            else:
                kind = "note" if message.internal else "reply"
            entries.append(
                ThreadEntry(message, kind, authors.get(message.author_account_id or 0), action)
            )
        return entries

    def screenshots(self, request: SupportRequest) -> list[Screenshot]:
        licensing = self.unit.licensing
        shown = []
        for attachment in request.attachments:
            reading = ocr_reading(self.keyring, attachment)
            if reading is None:
                failed = attachment.ocr_status == OcrStatus.FAILED
                shown.append(
                    Screenshot(attachment, "failed" if failed else "pending", "", None, None, False)
                )
                continue
            key = reading.license_key
            public_id = None
            missing = False
            if key and reading.verified:
                try:
                    public_id = licensing.find_license(key).public_id
                except (LicenseUnknown, LicenseKeyMalformed):
                    missing = True
            shown.append(
                Screenshot(
                    attachment,
                    "verified" if key and reading.verified else "unverified",
                    reading.text,
                    _formatted_key(key),
                    public_id,
                    missing,
                )
            )
        return shown

    def verified_license_ids(self, request: SupportRequest) -> set[int]:
        """Licenses this request shows: a screenshot's key read with its check value
        holding, or a key an agent read by eye from a screenshot and confirmed."""
        licensing = self.unit.licensing
        found = set()
        for attachment in request.attachments:
            reading = ocr_reading(self.keyring, attachment)
            if reading is None or not reading.verified or not reading.license_key:
                continue
            try:
                found.add(licensing.find_license(reading.license_key).id)
            except (LicenseUnknown, LicenseKeyMalformed):
                continue
        for message in request.messages:
            if message.author == Author.SYSTEM:
                action = json.loads(message.body)
                if action.get("action") == KEY_CONFIRMED:
                    found.add(int(action["license_id"]))
        return found

    def confirm_key(self, agent: Account, request: SupportRequest, text: str) -> License:
        """A license key an agent read by eye from the request's screenshot: checked by
        its check value before lookup, then recorded (thread and audit) as what the
        screenshot shows, which lets the code go to the requester."""
        if not request.attachments:
            raise FormInvalid({"license_key": "no_screenshot"})
        if not text.strip():
            raise FormInvalid({"license_key": "required"})
        licensing = self.unit.licensing
        try:
            license = licensing.find_license(text)
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
        audit(
            self.session,
            self.now,
            actor=f"agent:{agent.id}",
            action=KEY_CONFIRMED,
            subject_type="license",
            subject_id=license.id,
            request=request.number,
        )
        return license

    # working it ------------------------------------------------------------------------

    def assign_to_me(self, agent: Account, request: SupportRequest) -> None:
        if request.assignee_id != agent.id:
            request.assignee_id = agent.id
            request.updated_at = self.now
            self._audit(agent, request, "support.request_assigned")

    def set_status(self, agent: Account, request: SupportRequest, status: str) -> None:
        if status not in SETTABLE:
            raise FormInvalid({"status": "status_invalid"})
        if request.status == status:
            return
        previous = request.status
        request.status = status
        request.solved_at = self.now if status == RequestStatus.SOLVED else None
        request.updated_at = self.now
        record_action(request, agent, self.now, "support.status_changed", status=status)
        self._audit(agent, request, "support.status_changed", previous=previous, status=status)

    def reply(
        self,
        agent: Account,
        request: SupportRequest,
        *,
        body: str,
        canned: str = "",
        status: str = "",
    ) -> SupportMessage:
        """A reply to the request's own email, on the thread for the customer to see.

        A reply never carries an activation code: codes go only by ``send_code``."""
        text = body.strip()
        if canned:
            if canned not in CANNED_REPLIES:
                raise FormInvalid({"canned": "canned_unknown"})
            stock = translator(request.language).gettext(CANNED_REPLIES[canned][1])
            text = f"{stock}\n\n{text}" if text else stock
        if not text:
            raise FormInvalid({"body": "required"})
        if len(text) > MAX_BODY:
            raise FormInvalid({"body": "body_too_long"})
        if carries_code(text):
            raise FormInvalid({"body": "reply_carries_code"})
        if carries_license_key(text):
            raise FormInvalid({"body": "carries_license_key"})
        if status and status not in SETTABLE:
            raise FormInvalid({"status": "status_invalid"})
        message = SupportMessage(
            author=Author.AGENT,
            author_account_id=agent.id,
            internal=False,
            body=text,
            created_at=self.now,
        )
        request.messages.append(message)
        request.updated_at = self.now
        self.send_mail(
            request.customer_email,
            request.language,
            "support_reply",
            name=request.customer_name,
            number=request.number,
            body=text,
        )
        self._audit(agent, request, "support.replied", canned=canned or None)
        if status:
            self.set_status(agent, request, status)
        self.session.flush()
        return message

    def note(self, agent: Account, request: SupportRequest, body: str) -> SupportMessage:
        """An internal note: agents only, never on the customer's page or in a mail."""
        text = body.strip()
        if not text:
            raise FormInvalid({"body": "required"})
        if len(text) > MAX_BODY:
            raise FormInvalid({"body": "body_too_long"})
        if carries_code(text):
            raise FormInvalid({"body": "note_carries_code"})
        if carries_license_key(text):
            raise FormInvalid({"body": "carries_license_key"})
        message = SupportMessage(
            author=Author.AGENT,
            author_account_id=agent.id,
            internal=True,
            body=text,
            created_at=self.now,
        )
        request.messages.append(message)
        request.updated_at = self.now
        self.session.flush()
        return message

    # helpers -------------------------------------------------------------------------

    def _audit(self, agent: Account, request: SupportRequest, action: str, **fields: Any) -> None:
        audit(
            self.session,
            self.now,
            actor=f"agent:{agent.id}",
            action=action,
            subject_type="support_request",
            subject_id=request.id,
            request=request.number,
            **fields,
        )


def _formatted_key(key: str | None) -> str | None:
    if not key:
        return None
    try:
        return formats.format_license_key(formats.normalize_license_key(key))
    except formats.MalformedError:
        return key


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
