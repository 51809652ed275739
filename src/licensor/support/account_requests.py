"""An account's support requests, as My Account lists and opens them.

An account's requests are those opened while signed in to it, and those opened with one
of its verified addresses: the follow link of such a request went to that address, so
its owner could read the thread already. An unverified address proves nothing and brings
in nothing. Any other request answers "not found", as an unknown number does.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import selectinload

from licensor.errors import NotFound
from licensor.models import Account, AccountEmail, Attachment, SupportRequest
from licensor.support.service import WITH_THREAD
from licensor.units import Service


class AccountRequests(Service):
    """Support requests seen from one account (``unit.account_requests``)."""

    def verified_emails(self, account: Account) -> list[str]:
        """The account's addresses whose requests it holds: its own once verified, and
        each further address once verified."""
        further = self.session.scalars(
            select(AccountEmail.email).where(
                AccountEmail.account_id == account.id, AccountEmail.verified_at.is_not(None)
            )
        )
        own = [account.email] if account.email_verified_at is not None else []
        return own + [email for email in further if email not in own]

    def _mine(self, account: Account) -> ColumnElement[bool]:
        return or_(
            SupportRequest.account_id == account.id,
            SupportRequest.customer_email.in_(self.verified_emails(account)),
        )

    def of_account(self, account: Account) -> list[SupportRequest]:
        """The account's requests, the latest changed first, with their threads (what
        support did is told from them)."""
        query = (
            select(SupportRequest)
            .where(self._mine(account))
            .options(selectinload(SupportRequest.messages))
            .order_by(SupportRequest.updated_at.desc(), SupportRequest.id.desc())
        )
        return list(self.session.scalars(query))

    def request(self, account: Account, number: str, *, lock: bool = False) -> SupportRequest:
        """The account's request with this number, its thread and screenshots loaded;
        NotFound for any other number."""
        query = (
            select(SupportRequest)
            .where(SupportRequest.number == number.strip().upper(), self._mine(account))
            .options(*WITH_THREAD)
        )
        found = self.session.scalar(query.with_for_update(of=SupportRequest) if lock else query)
        if found is None:
            raise NotFound("there is no such support request in your account")
        return found

    def attachment(self, account: Account, number: str, attachment_id: int) -> Attachment:
        """A screenshot of the account's request, if the customer may read its message."""
        request = self.request(account, number)
        visible = {message.id for message in self.unit.support.customer_thread(request)}
        for attachment in request.attachments:
            if attachment.id == attachment_id and attachment.message_id in visible:
                return attachment
        raise NotFound("there is no such screenshot")
