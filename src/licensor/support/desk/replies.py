"""What an agent writes on a request: replies to the customer (typed, or picked from the
canned ones) and internal notes.

The thread is stored in clear and searched, so neither may carry an activation code or a
license key in any spelling that activation takes (``redaction.py``): codes go only by
``Recovery.send_code``, to an email of record, audited.
"""

from __future__ import annotations

from licensor.errors import FormInvalid
from licensor.models import Account, Author, SupportMessage, SupportRequest
from licensor.support.desk.requests import SETTABLE
from licensor.support.redaction import carries_code, carries_license_key
from licensor.units import Service
from licensor.web.i18n import N_, translator

MAX_BODY = 10_000
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


class Replies(Service):
    """Replies and notes on a request (loaded with its thread), bound to one unit of work."""

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
        _check(text, carrying_code="reply_carries_code")
        if status and status not in SETTABLE:
            raise FormInvalid({"status": "status_invalid"})
        message = self._add(agent, request, text, internal=False)
        self.send_mail(
            request.customer_email,
            request.language,
            "support_reply",
            name=request.customer_name,
            number=request.number,
            body=text,
        )
        desk = self.unit.desk
        desk.audit(agent, request, "support.replied", canned=canned or None)
        if status:
            desk.set_status(agent, request, status)
        self.session.flush()
        return message

    def note(self, agent: Account, request: SupportRequest, body: str) -> SupportMessage:
        """An internal note: agents only, never on the customer's page or in a mail."""
        text = body.strip()
        _check(text, carrying_code="note_carries_code")
        message = self._add(agent, request, text, internal=True)
        self.session.flush()
        return message

    def _add(
        self, agent: Account, request: SupportRequest, text: str, *, internal: bool
    ) -> SupportMessage:
        message = SupportMessage(
            author=Author.AGENT,
            author_account_id=agent.id,
            internal=internal,
            body=text,
            created_at=self.now,
        )
        request.messages.append(message)
        request.updated_at = self.now
        return message


def _check(text: str, *, carrying_code: str) -> None:
    """FormInvalid on ``body`` for an empty or too long text, or one holding a code (the
    ``carrying_code`` problem) or a license key."""
    if not text:
        raise FormInvalid({"body": "required"})
    if len(text) > MAX_BODY:
        raise FormInvalid({"body": "body_too_long"})
    if carries_code(text):
        raise FormInvalid({"body": carrying_code})
    if carries_license_key(text):
        raise FormInvalid({"body": "carries_license_key"})
