"""Support requests from the customer's side: opening one, following it, replying.

A request gets a non-sequential number to quote (``SUP-7K3M-9QXT``) and a random follow
token, mailed to the customer and stored only as its SHA-256: whoever holds the link
can read the thread (never the agents' internal notes) and reply; any other token is the
same plain "not found". Screenshots arrive checked (``uploads.check_uploads``); each
stored one gets a job that reads its license key in the background (``tasks.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from licensor.accounts.service import email_problem, new_token, normalize_email, token_hash
from licensor.errors import FormInvalid, LicenseUnknown, RequestLinkUnknown
from licensor.licensing.formats import readable_number
from licensor.models import (
    Account,
    Attachment,
    Author,
    RequestStatus,
    SupportMessage,
    SupportRequest,
    Topic,
)
from licensor.support.attachments import store_attachment
from licensor.support.proofs import MAX_PROOF_BYTES, store_proof
from licensor.support.redaction import redact
from licensor.support.tasks import enqueue_read_key
from licensor.support.uploads import CheckedUploads
from licensor.units import Service

NUMBER_PREFIX = "SUP"
MAX_NAME = 200
MAX_SUBJECT = 200
MAX_ORDER_NUMBER = 60
MAX_MESSAGE = 10_000

NAME, EMAIL, PURCHASE_DATE, ORDER_NUMBER, SUBJECT, MESSAGE = (
    "name",
    "email",
    "purchase_date",
    "order_number",
    "subject",
    "message",
)
SCREENSHOT = "screenshot"
PROOF = "proof"
# What is read of a request whenever it is opened: its thread and its screenshots.
WITH_THREAD = (selectinload(SupportRequest.messages), selectinload(SupportRequest.attachments))


@dataclass(frozen=True)
class TopicFields:
    """Which fields a topic asks for, and which of them it needs."""

    shown: tuple[str, ...]
    required: frozenset[str]
    screenshot_required: bool = False


TOPIC_FIELDS: dict[str, TopicFields] = {
    # Without the card, the license key in the app is what leads to the code.
    Topic.RECOVER_CARD_CODE: TopicFields(
        (NAME, EMAIL, PURCHASE_DATE, MESSAGE), frozenset({NAME, EMAIL}), screenshot_required=True
    ),
    Topic.RECOVER_ONLINE_CODE: TopicFields(
        (NAME, EMAIL, ORDER_NUMBER, PURCHASE_DATE, MESSAGE), frozenset({NAME, EMAIL})
    ),
    Topic.MISSING_PURCHASE: TopicFields(
        (NAME, EMAIL, ORDER_NUMBER, PURCHASE_DATE, MESSAGE),
        frozenset({NAME, EMAIL, ORDER_NUMBER}),
    ),
    Topic.OTHER: TopicFields((NAME, EMAIL, SUBJECT, MESSAGE), frozenset({NAME, EMAIL, MESSAGE})),
}


@dataclass(frozen=True)
class RequestForm:
    """What the customer typed, as typed: the form re-renders with it."""

    topic: str = ""
    name: str = ""
    email: str = ""
    purchase_date: str = ""
    order_number: str = ""
    subject: str = ""
    message: str = ""


@dataclass(frozen=True)
class OpenedRequest:
    request_id: int
    number: str
    token: str  # for the follow link; only its hash is stored

    @property
    def follow_path(self) -> str:
        return follow_path(self.token)


def follow_path(token: str) -> str:
    return f"/support/requests/{token}"


def generate_request_number() -> str:
    """``SUP-7K3M-9QXT``: 40 random bits, read aloud without ambiguity, not sequential."""
    return readable_number(NUMBER_PREFIX)


def request_problems(form: RequestForm, today: date) -> dict[str, str]:
    """What is wrong with the typed fields, by field: message keys for the form."""
    fields = TOPIC_FIELDS.get(form.topic)
    if fields is None:
        return {"topic": "topic_required"}
    values = {
        NAME: form.name,
        EMAIL: form.email,
        PURCHASE_DATE: form.purchase_date,
        ORDER_NUMBER: form.order_number,
        SUBJECT: form.subject,
        MESSAGE: form.message,
    }
    errors: dict[str, str] = {}
    for name in fields.required:
        if not values[name].strip():
            errors[name] = "required"
    # Fields of another topic (the all-in-one form shows them all) are kept when valid.
    if NAME not in errors and len(form.name.strip()) > MAX_NAME:
        errors[NAME] = "name_too_long"
    if EMAIL not in errors and (problem := email_problem(form.email.strip())):
        errors[EMAIL] = problem
    if len(form.order_number.strip()) > MAX_ORDER_NUMBER:
        errors[ORDER_NUMBER] = "order_number_too_long"
    if len(form.subject.strip()) > MAX_SUBJECT:
        errors[SUBJECT] = "name_too_long"
    if len(form.message) > MAX_MESSAGE:
        errors[MESSAGE] = "message_too_long"
    if form.purchase_date.strip():
        try:
            purchased = date.fromisoformat(form.purchase_date.strip())
        except ValueError:
            errors[PURCHASE_DATE] = "date_invalid"
        else:
            if purchased > today + timedelta(days=1):  # the customer's day may be ahead
                errors[PURCHASE_DATE] = "date_future"
    return errors


def _upload_problem(uploads: CheckedUploads, required: bool, proof: str) -> str | None:
    if uploads.refusal is not None:
        return uploads.refusal.code
    if required and not uploads.screenshots and not proof.strip():
        return "screenshot_required"
    return None


class Support(Service):
    """Support requests as customers open, follow and answer them."""

    def open_request(
        self,
        form: RequestForm,
        uploads: CheckedUploads,
        *,
        account: Account | None,
        language: str,
        actor: str,
        proof: str = "",
    ) -> OpenedRequest:
        """Open a request, store its screenshots, queue their reading and the customer's
        confirmation mail; a license proof (``proofs.py``) is checked at once. Raises
        FormInvalid (nothing stored) when anything is refused."""
        if account is not None:  # signed in: the account's address, whatever was posted
            form = RequestForm(**{**form.__dict__, "email": account.email})
        errors = request_problems(form, self.now.date())
        fields = TOPIC_FIELDS.get(form.topic)
        problem = _upload_problem(uploads, fields is not None and fields.screenshot_required, proof)
        if problem is not None:
            errors[SCREENSHOT] = problem
        if len(proof.encode()) > MAX_PROOF_BYTES:
            errors[PROOF] = "proof_too_large"
        if errors:
            raise FormInvalid(errors)
        token, access_hash = new_token()
        request = SupportRequest(
            number=self._new_number(),
            topic=Topic(form.topic),
            status=RequestStatus.NEW,
            language=language,
            customer_name=form.name.strip(),
            customer_email=normalize_email(form.email),
            account_id=account.id if account is not None else None,
            purchase_date=(
                date.fromisoformat(form.purchase_date.strip())
                if form.purchase_date.strip()
                else None
            ),
            order_number=form.order_number.strip(),
            subject=self._redacted(form.subject.strip()),
            access_token_hash=access_hash,
            created_at=self.now,
            updated_at=self.now,
        )
        self.session.add(request)
        self.session.flush()
        message = self._add_message(request, form.message.strip(), uploads)
        self.unit.audit(
            "support.request_opened",
            subject_type="support_request",
            subject_id=request.id,
            actor=actor,
            number=request.number,
            topic=request.topic,
            attachments=len(uploads.screenshots),
            message_id=message.id,
        )
        if proof.strip():
            self._keep_proof(request, proof, actor)
        opened = OpenedRequest(request.id, request.number, token)
        self.send_mail(
            request.customer_email,
            request.language,
            "support_request_received",
            number=request.number,
            name=request.customer_name,
            follow_url=self.settings.url(opened.follow_path),
            attachments=len(uploads.screenshots),
        )
        return opened

    def _keep_proof(self, request: SupportRequest, text: str, actor: str) -> None:
        kept, checked = store_proof(
            self.session,
            self.keyring,
            self.unit.licenses,
            self.now,
            request_id=request.id,
            text=text,
        )
        self.unit.audit(
            "support.proof_checked",
            subject_type="support_request",
            subject_id=request.id,
            actor=actor,
            number=request.number,
            proof_id=kept.id,
            verified=kept.verified,
            verify_error=kept.verify_error,
            public_id=checked.license.public_id if checked.verified and checked.license else None,
        )

    def follow(self, token: str) -> SupportRequest:
        """The request a follow link opens; RequestLinkUnknown for any other token."""
        if not token or len(token) > 100:
            raise RequestLinkUnknown()
        request = self.session.scalar(
            select(SupportRequest)
            .where(SupportRequest.access_token_hash == token_hash(token))
            .options(*WITH_THREAD)
        )
        if request is None:
            raise RequestLinkUnknown()
        return request

    def customer_thread(self, request: SupportRequest) -> list[SupportMessage]:
        """The messages the customer may read: everything but internal notes."""
        return [message for message in request.messages if not message.internal]

    def customer_attachment(self, token: str, attachment_id: int) -> Attachment:
        """An attachment of the request the link opens, if it belongs to a message the
        customer may read."""
        request = self.follow(token)
        visible = {message.id for message in self.customer_thread(request)}
        for attachment in request.attachments:
            if attachment.id == attachment_id and attachment.message_id in visible:
                return attachment
        raise RequestLinkUnknown()

    def reply(
        self, token: str, body: str, uploads: CheckedUploads, *, actor: str
    ) -> SupportMessage:
        """The holder of a follow link answers (``reply_to``)."""
        return self.reply_to(self.follow(token), body, uploads, actor=actor)

    def reply_to(
        self, request: SupportRequest, body: str, uploads: CheckedUploads, *, actor: str
    ) -> SupportMessage:
        """The customer answers: a message (and screenshots) in the thread; a request
        waiting on the customer, or solved, is open again."""
        errors: dict[str, str] = {}
        if not body.strip() and not uploads.screenshots:
            errors[MESSAGE] = "required"
        elif len(body) > MAX_MESSAGE:
            errors[MESSAGE] = "message_too_long"
        if uploads.refusal is not None:
            errors[SCREENSHOT] = uploads.refusal.code
        if errors:
            raise FormInvalid(errors)
        message = self._add_message(request, body.strip(), uploads)
        previous = request.status
        if request.status in (RequestStatus.WAITING, RequestStatus.SOLVED):
            request.status = RequestStatus.OPEN
            request.solved_at = None
        request.updated_at = self.now
        self.unit.audit(
            "support.customer_replied",
            subject_type="support_request",
            subject_id=request.id,
            actor=actor,
            number=request.number,
            message_id=message.id,
            attachments=len(uploads.screenshots),
            status_before=previous,
            status=request.status,
        )
        return message

    def _add_message(
        self, request: SupportRequest, body: str, uploads: CheckedUploads
    ) -> SupportMessage:
        message = SupportMessage(
            request_id=request.id,
            author=Author.CUSTOMER,
            author_account_id=request.account_id,
            internal=False,
            body=self._redacted(body),
            created_at=self.now,
        )
        self.session.add(message)
        self.session.flush()
        for screenshot in uploads.screenshots:
            attachment = store_attachment(
                self.session,
                self.settings,
                self.keyring,
                self.now,
                request_id=request.id,
                message_id=message.id,
                screenshot=screenshot,
            )
            self.session.flush()
            enqueue_read_key(self.session, attachment)
        return message

    def _redacted(self, text: str) -> str:
        """What the customer wrote, without a code or key in clear: the thread is stored
        and searched in clear. A key becomes its license's public ID, which the desk opens."""
        licenses = self.unit.licenses

        def public_id_of(license_key: str) -> str | None:
            try:
                return licenses.find_license(license_key).public_id
            except LicenseUnknown:
                return None

        return redact(text, public_id_of)

    def _new_number(self) -> str:
        while True:
            number = generate_request_number()
            taken = self.session.scalar(
                select(SupportRequest.id).where(SupportRequest.number == number)
            )
            if taken is None:
                return number
