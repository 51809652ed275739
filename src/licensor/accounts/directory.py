"""The vendor's view of customer accounts (the console's Customers section and
``licensor users list``/``show``): finding an account, and everything about one on a page.

Staff see codes masked here (only the last group): this page's purpose is the account, not
its codes; a code in full is the codes page's to disclose (and audit). An account's orders
and support requests are those bound to it and those placed with one of its verified
addresses, as My Account shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from licensor.accounts.devices import DeviceRow
from licensor.accounts.security import SignInRow
from licensor.errors import NotFound
from licensor.licensing import formats
from licensor.licensing.codes import CODE_WITH_LICENSE, code_state
from licensor.models import (
    Account,
    AccountEmail,
    ActivationCode,
    Order,
    SignIn,
    Subscription,
    SupportRequest,
)
from licensor.units import Service

PAGE_SIZE = 25
SEARCH_MAX = 320


@dataclass(frozen=True)
class CustomerRow:
    """An account as the list shows it."""

    id: int
    email: str
    verified: bool
    created_at: datetime
    last_sign_in_at: datetime | None
    licenses: int
    disabled: bool
    erased: bool


@dataclass(frozen=True)
class CustomerPage:
    rows: list[CustomerRow]
    page: int
    more: bool  # a next page exists


@dataclass(frozen=True)
class CodeRow:
    masked: str
    plan: str
    state: str
    public_id: str | None  # its license's, once activated
    expires_at: datetime | None
    linked_at: datetime | None


@dataclass(frozen=True)
class Profile:
    """Everything the console's page of one account shows."""

    account: Account
    addresses: list[AccountEmail]
    licenses: list[CodeRow]
    unactivated: list[CodeRow]
    orders: list[Order]
    subscriptions: list[Subscription]
    devices: list[DeviceRow]
    requests: list[SupportRequest]
    sign_ins: list[SignInRow]

    @property
    def two_factor(self) -> bool:
        return self.account.totp_secret_ciphertext is not None


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class CustomerDirectory(Service):
    """Finding accounts and reading one whole, for staff."""

    def search(self, text: str = "", page: int = 1) -> CustomerPage:
        """Accounts matching ``text``, newest first, a page at a time: an account id (all
        digits), the start of an email address (the account's own or a further one,
        both indexed), or part of a name given on an order."""
        text = " ".join(text.split())[:SEARCH_MAX]
        page = max(page, 1)
        query = select(Account)
        if text:
            query = query.where(Account.id.in_(self._matching_ids(text)))
        accounts = self.session.scalars(
            query.order_by(Account.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
        ).all()
        shown = list(accounts[:PAGE_SIZE])
        ids = [account.id for account in shown]
        last_sign_ins = dict(
            self.session.execute(
                select(SignIn.account_id, func.max(SignIn.occurred_at))
                .where(SignIn.account_id.in_(ids))
                .group_by(SignIn.account_id)
            ).all()
        )
        license_counts = dict(
            self.session.execute(
                select(ActivationCode.account_id, func.count(ActivationCode.id))
                .where(ActivationCode.account_id.in_(ids))
                .group_by(ActivationCode.account_id)
            ).all()
        )
        rows = [
            CustomerRow(
                id=account.id,
                email=account.email,
                verified=account.email_verified_at is not None,
                created_at=account.created_at,
                last_sign_in_at=last_sign_ins.get(account.id),
                licenses=license_counts.get(account.id, 0),
                disabled=account.disabled_at is not None,
                erased=account.erased_at is not None,
            )
            for account in shown
        ]
        return CustomerPage(rows, page, more=len(accounts) > PAGE_SIZE)

    def _matching_ids(self, text: str) -> list[int]:
        ids: set[int] = set()
        if text.isascii() and text.isdigit() and len(text) < 19:
            ids.add(int(text))
        prefix = _like_escaped(text.lower()) + "%"
        ids.update(
            self.session.scalars(
                select(Account.id).where(Account.email.like(prefix, escape="\\")).limit(500)
            )
        )
        ids.update(
            self.session.scalars(
                select(AccountEmail.account_id)
                .where(AccountEmail.email.like(prefix, escape="\\"))
                .limit(500)
            )
        )
        if "@" not in text:
            # Names on orders are not indexed (no migration in this issue): the scan is
            # bounded, and only orders joined to an account count.
            ids.update(
                self.session.scalars(
                    select(Order.account_id)
                    .where(
                        Order.account_id.is_not(None),
                        func.lower(Order.customer_name).like(
                            "%" + _like_escaped(text.lower()) + "%", escape="\\"
                        ),
                    )
                    .limit(500)
                )
            )
        return sorted(ids)

    def account(self, account_id: int | str) -> Account:
        """The account of this id (as typed in an address too); NotFound for any other."""
        text = str(account_id)
        # ASCII digits only: str.isdigit() also takes a superscript (which int() refuses) and
        # full-width digits (which int() reads, but no address or file name should carry).
        if not (text.isascii() and text.isdigit()) or len(text) > 18:  # past a BIGINT
            raise NotFound("there is no such account")
        account = self.session.get(Account, int(text))
        if account is None:
            raise NotFound("there is no such account")
        return account

    def by_email(self, email: str) -> Account:
        """The account whose sign-in address this is; NotFound for any other."""
        account = self.unit.accounts.by_email(email)
        if account is None:
            raise NotFound("there is no such account")
        return account

    def verified_emails(self, account: Account) -> list[str]:
        """The account's own address (once verified) and its verified further ones."""
        return self.unit.account_purchases.verified_emails(account)

    def profile(self, account: Account, language: str = "en") -> Profile:
        """The account and what it holds, each list newest first."""
        emails = self.verified_emails(account)
        codes = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.account_id == account.id)
            .options(*CODE_WITH_LICENSE)
            .order_by(ActivationCode.id.desc())
        ).all()
        rows = [self._code_row(code) for code in codes]
        return Profile(
            account=account,
            addresses=list(
                self.session.scalars(
                    select(AccountEmail)
                    .where(AccountEmail.account_id == account.id)
                    .order_by(AccountEmail.id)
                )
            ),
            licenses=[row for row in rows if row.public_id is not None],
            unactivated=[row for row in rows if row.public_id is None],
            orders=self.orders(account, emails),
            subscriptions=self.subscriptions(account),
            devices=self.unit.account_devices.of_account(account),
            requests=self.requests(account, emails),
            sign_ins=self.unit.account_security.recent_sign_ins(account, language),
        )

    def subscriptions(self, account: Account) -> list[Subscription]:
        """The account's subscriptions with their plans, newest first."""
        return list(
            self.session.scalars(
                select(Subscription)
                .where(Subscription.account_id == account.id)
                .options(joinedload(Subscription.plan, innerjoin=True))
                .order_by(Subscription.id.desc())
            )
        )

    def orders(self, account: Account, emails: list[str]) -> list[Order]:
        """Orders joined to the account or placed with one of its verified addresses."""
        return list(
            self.session.scalars(
                select(Order)
                .where(or_(Order.account_id == account.id, Order.customer_email.in_(emails)))
                .order_by(Order.purchased_at.desc(), Order.id.desc())
            )
        )

    def requests(self, account: Account, emails: list[str]) -> list[SupportRequest]:
        """Support requests from the account or from one of its verified addresses."""
        return list(
            self.session.scalars(
                select(SupportRequest)
                .where(
                    or_(
                        SupportRequest.account_id == account.id,
                        SupportRequest.customer_email.in_(emails),
                    )
                )
                .order_by(SupportRequest.created_at.desc(), SupportRequest.id.desc())
            )
        )

    def _code_row(self, code: ActivationCode) -> CodeRow:
        license_row = code.license
        return CodeRow(
            masked=formats.mask_code(self.unit.codes.reveal_code(code)),
            plan=code.plan.name,
            state=str(code_state(code, self.now)),
            public_id=license_row.public_id if license_row else None,
            expires_at=license_row.expires_at if license_row else None,
            linked_at=code.linked_at,
        )
