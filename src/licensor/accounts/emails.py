"""An account's further email addresses: added by the owner, confirmed by a one-time link
mailed to the address, removed by the owner. A confirmed address brings in the orders
placed with it (accounts/purchases.py).

Nothing is stored for an address until its link is opened: what waits is the link itself
(an ``AccountToken`` of purpose ``add_email`` naming the address), so nobody can hold an
address they do not read by typing it first. An address another account has verified is
never added; only a mail to that address says so. The page answers the same either way,
so it tells nobody whether an address belongs to an account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from licensor.accounts.service import email_problem, mask_email, normalize_email
from licensor.errors import FormInvalid
from licensor.models import Account, AccountEmail, AccountToken
from licensor.units import Service

ADD_EMAIL_PURPOSE = "add_email"
ADD_EMAIL_HOURS = 24
MAX_FURTHER_EMAILS = 10  # confirmed and waiting together


@dataclass(frozen=True)
class EmailRow:
    """An address of the account as its page lists it."""

    email: str
    primary: bool
    verified: bool  # False: waiting for its link to be opened


class AccountEmails(Service):
    """The further addresses of one account."""

    def of_account(self, account: Account) -> list[EmailRow]:
        """The account's own address, its confirmed further ones, then those whose link
        is waiting (each once)."""
        rows = [EmailRow(account.email, True, account.email_verified_at is not None)]
        confirmed = self.session.scalars(
            select(AccountEmail.email)
            .where(AccountEmail.account_id == account.id)
            .order_by(AccountEmail.id)
        ).all()
        rows += [EmailRow(email, False, True) for email in confirmed if email != account.email]
        for email in self._waiting(account):
            if all(row.email != email for row in rows):
                rows.append(EmailRow(email, False, False))
        return rows

    def add(self, account: Account, email: str) -> str:
        """Mail a confirmation link to a further address (normalised, returned)."""
        email = normalize_email(email)
        if problem := email_problem(email):
            raise FormInvalid({"email": problem})
        listed = self.of_account(account)
        if any(row.email == email and row.verified for row in listed):
            raise FormInvalid({"email": "email_already_yours"})
        if all(row.email != email for row in listed) and len(listed) > MAX_FURTHER_EMAILS:
            raise FormInvalid({"email": "emails_too_many"})
        self._send_link(account, email)
        return email

    def resend(self, account: Account, email: str) -> None:
        """Mail a waiting address a fresh link (the earlier ones stop working)."""
        email = normalize_email(email)
        if email not in self._waiting(account):
            raise FormInvalid({"email": "email_not_waiting"})
        self._send_link(account, email)

    def remove(self, account: Account, email: str) -> None:
        """Remove a further address, confirmed or waiting. The orders that joined from it
        stay in the account; later ones no longer join."""
        email = normalize_email(email)
        if email == account.email:
            raise FormInvalid({"email": "email_primary"})
        row = self.session.scalar(
            select(AccountEmail).where(
                AccountEmail.account_id == account.id, AccountEmail.email == email
            )
        )
        waiting = email in self._waiting(account)
        if row is None and not waiting:
            return
        if row is not None:
            self.session.delete(row)
        self._spend_links(account, email)
        self.unit.audit(
            "accounts.email_removed",
            actor=f"account:{account.id}",
            subject_type="account",
            subject_id=account.id,
            email=email,
            was_confirmed=row is not None,
        )

    def confirm(self, token: str) -> Account | None:
        """Open a link: the address joins the account, verified, and brings its orders.
        None for a link spent, expired or unknown, or an address verified elsewhere
        meanwhile."""
        accounts = self.unit.accounts
        record = accounts.find_token(token, ADD_EMAIL_PURPOSE)
        if record is None or record.new_email is None:
            return None
        account, email = record.account, record.new_email
        record.used_at = self.now
        if email == account.email or self._verified_elsewhere(account, email):
            return None
        try:
            with self.session.begin_nested():
                self.session.add(
                    AccountEmail(
                        account_id=account.id,
                        email=email,
                        verified_at=self.now,
                        created_at=self.now,
                    )
                )
        except IntegrityError:
            # Confirmed a moment ago: by this account (a second click) or another.
            mine = self.session.scalar(
                select(AccountEmail.id).where(
                    AccountEmail.account_id == account.id, AccountEmail.email == email
                )
            )
            return account if mine is not None else None
        self._spend_links(account, email)
        self.unit.audit(
            "accounts.email_added",
            actor=f"account:{account.id}",
            subject_type="account",
            subject_id=account.id,
            email=email,
        )
        self.unit.account_purchases.join_from(account, email, via="added_email")
        return account

    # ---------------------------------------------------------------------------------

    def _waiting(self, account: Account) -> list[str]:
        """Addresses with a live link for this account, oldest first."""
        emails = self.session.scalars(
            select(AccountToken.new_email)
            .where(
                AccountToken.account_id == account.id,
                AccountToken.purpose == ADD_EMAIL_PURPOSE,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > self.now,
            )
            .order_by(AccountToken.id)
        ).all()
        return list(dict.fromkeys(email for email in emails if email))

    def _spend_links(self, account: Account, email: str) -> None:
        self.session.execute(
            update(AccountToken)
            .where(
                AccountToken.account_id == account.id,
                AccountToken.purpose == ADD_EMAIL_PURPOSE,
                AccountToken.new_email == email,
                AccountToken.used_at.is_(None),
            )
            .values(used_at=self.now)
        )

    def _verified_elsewhere(self, account: Account, email: str) -> bool:
        owner = self.unit.account_purchases.owner_of(email)
        return owner is not None and owner.id != account.id

    def _send_link(self, account: Account, email: str) -> None:
        """A link to the address, or, where another account has verified it, a mail
        saying nothing was changed. The link is written either way, so the page lists
        the address as waiting whichever it was: it cannot tell who holds an address."""
        self._spend_links(account, email)
        token = self.unit.accounts.issue_token(
            account, ADD_EMAIL_PURPOSE, hours=ADD_EMAIL_HOURS, new_email=email
        )
        taken = self._verified_elsewhere(account, email)
        if taken:
            self.send_mail(
                email,
                account.language,
                "account_email_taken",
                address=email,
                support=self.settings.url("/support"),
            )
        else:
            self.send_mail(
                email,
                account.language,
                "account_email_confirm",
                address=email,
                account=mask_email(account.email),
                link=self.settings.url(f"/account/emails/confirm?token={token}"),
                hours=ADD_EMAIL_HOURS,
            )
        self.unit.audit(
            "accounts.email_link_sent",
            actor=f"account:{account.id}",
            subject_type="account",
            subject_id=account.id,
            email=email,
            refused=taken,
        )
