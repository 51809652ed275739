"""Purchases that find their account: an order joins the account that has verified the
address it was placed with.

The address is the proof. Whoever has verified an address (at sign-up, by changing the
account's address, or by confirming a further one: accounts/emails.py) can read the
order's confirmation in that mailbox anyway, so its orders join that account: the order
(``orders.account_id``) and each of its codes, through ``AccountLicenses.attach``, the
one way a code joins an account. An order already in an account stays there, and so does
a code in another account (given away, say): it is left where it is and the mail says so.

Joining happens when an address is verified, when an order placed with a verified
address is paid or recorded (``adopt``), and when the owner asks ("find my purchases",
which also mails each verified address the list of its orders). Each order joined leaves
one audit row, ``accounts.order_joined``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from licensor.accounts.service import normalize_email
from licensor.errors import LicenseLinkedElsewhere
from licensor.licensing.codes import CODE_WITH_LICENSE
from licensor.models import Account, AccountEmail, ActivationCode, Order, OrderStatus
from licensor.units import Service

# What can join: a paid order, or one refunded since (its codes blocked, its history
# the owner's). A checkout not paid yet joins when it is (``adopt``).
JOINABLE = (OrderStatus.PAID, OrderStatus.REFUNDED)


@dataclass(frozen=True)
class JoinedOrder:
    """An order as the mails about joining list it."""

    number: str
    purchased_at: datetime
    email: str
    codes_joined: int
    codes_elsewhere: int  # codes already in another account, left there

    def for_mail(self) -> dict[str, object]:
        return {
            "number": self.number,
            "purchased_on": self.purchased_at.strftime("%Y-%m-%d"),
            "email": self.email,
            "joined": self.codes_joined,
            "elsewhere": self.codes_elsewhere,
        }


class AccountPurchases(Service):
    """The orders of an account's verified addresses, joined to it."""

    def verified_emails(self, account: Account) -> list[str]:
        """The account's own address once verified, then its further verified ones."""
        further = self.session.scalars(
            select(AccountEmail.email)
            .where(AccountEmail.account_id == account.id, AccountEmail.verified_at.is_not(None))
            .order_by(AccountEmail.id)
        ).all()
        own = [account.email] if account.email_verified_at is not None else []
        return own + [email for email in further if email not in own]

    def owner_of(self, email: str) -> Account | None:
        """The account that has verified this address (its own or a further one), if any."""
        email = normalize_email(email)
        account = self.session.scalar(
            select(Account).where(Account.email == email, Account.email_verified_at.is_not(None))
        )
        if account is not None:
            return account
        return self.session.scalar(
            select(Account)
            .join(AccountEmail, AccountEmail.account_id == Account.id)
            .where(AccountEmail.email == email, AccountEmail.verified_at.is_not(None))
        )

    def join_from(
        self, account: Account, email: str, *, via: str, tell: bool = True
    ) -> list[JoinedOrder]:
        """Join every order placed with ``email`` (an address the account has just
        verified) that is in no account yet; ``tell``: mail the owner what joined."""
        orders = self.session.scalars(
            select(Order)
            .where(
                Order.customer_email == normalize_email(email),
                Order.account_id.is_(None),
                Order.status.in_(JOINABLE),
            )
            .order_by(Order.purchased_at, Order.id)
            .with_for_update()
        ).all()
        joined = [self.join_order(account, order, via=via) for order in orders]
        if joined and tell:
            self.tell_joined(account, joined)
        return joined

    def adopt(self, order: Order, *, via: str, tell: bool = False) -> Account | None:
        """An order just paid or recorded joins the account that has verified its
        address, if there is one and the order is in no account yet. A store order's
        codes, made after this, join with it (``Orders.deliver_codes``); a partner's,
        made before, join here. ``tell``: mail the owner (a partner's sale, which gets
        no confirmation from us)."""
        if order.account_id is not None:
            return None
        account = self.owner_of(order.customer_email)
        if account is None:
            return None
        joined = self.join_order(account, order, via=via)
        if tell:
            self.tell_joined(account, [joined])
        return account

    def join_order(self, account: Account, order: Order, *, via: str) -> JoinedOrder:
        """Join one order (read under lock, in no account) and its codes to the account."""
        order.account_id = account.id
        code_ids = self.session.scalars(
            select(ActivationCode.id)
            .where(ActivationCode.order_id == order.id)
            .order_by(ActivationCode.id)
            .with_for_update()
        ).all()
        codes = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.id.in_(code_ids))
            .options(*CODE_WITH_LICENSE)
            .order_by(ActivationCode.id)
            .execution_options(populate_existing=True)
        ).all()
        joined = elsewhere = 0
        for code in codes:
            try:
                linked = self.unit.account_licenses.attach(
                    account, code, code.license, None, via=via, joined_with_order=True
                )
            except LicenseLinkedElsewhere:
                elsewhere += 1
                continue
            joined += not linked.already_linked
        self.session.flush()
        self.unit.audit(
            "accounts.order_joined",
            actor=f"account:{account.id}" if via != "payment" else None,
            subject_type="order",
            subject_id=order.id,
            account_id=account.id,
            number=order.number,
            via=via,
            codes_joined=joined,
            codes_elsewhere=elsewhere,
        )
        return JoinedOrder(
            order.number, order.purchased_at, order.customer_email, joined, elsewhere
        )

    def tell_joined(self, account: Account, joined: list[JoinedOrder]) -> None:
        """One mail to the account's address listing the orders that joined it."""
        self.send_mail(
            account.email,
            account.language,
            "purchases_joined",
            orders=[order.for_mail() for order in joined],
            elsewhere=sum(order.codes_elsewhere for order in joined),
            orders_url=self.settings.url("/account/orders"),
            licenses_url=self.settings.url("/account/licenses"),
            support=self.settings.url("/support"),
        )

    def find(self, account: Account) -> int:
        """ "Find my purchases": join what has not joined yet from each verified address,
        then mail each address the list of the account's orders placed with it (or say
        there is none). The number of addresses written to."""
        addresses = self.verified_emails(account)
        for email in addresses:
            just_joined = {
                order.number for order in self.join_from(account, email, via="find", tell=False)
            }
            orders = self.session.scalars(
                select(Order)
                .where(
                    Order.account_id == account.id,
                    Order.customer_email == email,
                    Order.status.in_(JOINABLE),
                )
                .order_by(Order.purchased_at.desc(), Order.id.desc())
            ).all()
            self.send_mail(
                email,
                account.language,
                "purchases_found",
                address=email,
                orders=[
                    {
                        "number": order.number,
                        "purchased_on": order.purchased_at.strftime("%Y-%m-%d"),
                        "new": order.number in just_joined,
                    }
                    for order in orders
                ],
                orders_url=self.settings.url("/account/orders"),
                support=self.settings.url("/support"),
            )
        self.unit.audit(
            "accounts.purchases_found",
            actor=f"account:{account.id}",
            subject_type="account",
            subject_id=account.id,
            addresses=len(addresses),
        )
        return len(addresses)
