"""A customer's data, handed over and erased on request (GDPR articles 15 and 17), as
docs/privacy.md tells customers and operators.

The export is everything Licensor holds about the person, their own activation codes in
full included: it is a disclosure, audited as ``accounts.data_exported``. Erasure removes
or replaces the personal data and keeps what law and fraud prevention need: orders' numbers,
dates, amounts and tax for the tax records; codes and licenses with their blocked state, so
that a leaked code of an erased customer stays blocked; the audit trail, which the database
keeps append-only. The account row stays, with an address nobody can use, so that what is
kept still has an owner to point to, while the address itself can sign up afresh.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import selectinload

from licensor.accounts.admin import clean_reason, is_staff
from licensor.accounts.directory import CustomerDirectory
from licensor.accounts.service import normalize_email
from licensor.errors import FormInvalid
from licensor.licensing import formats
from licensor.licensing.codes import CODE_WITH_LICENSE, code_state
from licensor.logging import log
from licensor.models import (
    Account,
    AccountEmail,
    AccountToken,
    ActivationCode,
    AttachApproval,
    Attachment,
    AttachmentContent,
    Device,
    DeviceAuthorization,
    EnrollmentToken,
    LicenseProof,
    Order,
    OrderItem,
    OutboxMessage,
    RecoveryCode,
    SeatReleaseToken,
    SignIn,
    Subscription,
    SubscriptionStatus,
    SupportMessage,
    SupportRequest,
    WebSession,
)
from licensor.units import Service

EXPORT_FORMAT = "licensor.customer_export"
ERASED_NAME = "Erased customer"
# Never a real address: .invalid is reserved (RFC 2606), so no mail can reach it.
ERASED_DOMAIN = "erased.invalid"
UNUSABLE_PASSWORD = "!erased"  # no Argon2 hash: every password check fails


def erased_email(account_id: int) -> str:
    """The address an erased account (and its orders and requests) is left with."""
    return f"erased-{account_id}@{ERASED_DOMAIN}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Privacy(Service):
    """A person's data: exported whole, or erased but for what must be kept."""

    # export --------------------------------------------------------------------------

    def export(self, account: Account) -> dict[str, Any]:
        """Everything held about the account's owner, as a JSON-ready document; audited."""
        directory = self.unit.service(CustomerDirectory)
        emails = directory.verified_emails(account)
        document = {
            "format": EXPORT_FORMAT,
            "version": 1,
            "exported_at": _iso(self.now),
            "account": {
                "id": account.id,
                "email": account.email,
                "email_verified_at": _iso(account.email_verified_at),
                "language": account.language,
                "roles": account.roles,
                "two_factor": account.totp_secret_ciphertext is not None,
                "created_at": _iso(account.created_at),
                "password_changed_at": _iso(account.password_changed_at),
                "disabled_at": _iso(account.disabled_at),
            },
            "addresses": [
                {
                    "email": row.email,
                    "verified_at": _iso(row.verified_at),
                    "added_at": _iso(row.created_at),
                }
                for row in self.session.scalars(
                    select(AccountEmail).where(AccountEmail.account_id == account.id)
                )
            ],
            "licenses": self._licenses(account),
            "family_sharing": self.unit.shared_licenses.export_of(account),
            "devices": [
                {
                    "name": row.name,
                    "reported_name": row.reported_name,
                    "platform": row.platform,
                    "first_activated_at": _iso(row.first_activated_at),
                    "last_seen_at": _iso(row.last_seen_at),
                    "licenses": row.licenses,
                }
                for row in self.unit.account_devices.of_account(account)
            ],
            "orders": self._orders(account, emails),
            "subscriptions": [
                {
                    "plan": row.plan.name,
                    "status": str(row.status),
                    "auto_renew": row.auto_renew,
                    "current_period_end": _iso(row.current_period_end),
                    "canceled_at": _iso(row.canceled_at),
                    "payment_method": row.payment_method,
                    "created_at": _iso(row.created_at),
                }
                for row in directory.subscriptions(account)
            ],
            "support_requests": self._requests(account, emails),
            "sign_ins": [
                {
                    "occurred_at": _iso(row.occurred_at),
                    "ip_address": row.ip_address,
                    "user_agent": row.user_agent,
                }
                for row in self.session.scalars(
                    select(SignIn)
                    .where(SignIn.account_id == account.id)
                    .order_by(SignIn.occurred_at.desc())
                )
            ],
        }
        self.unit.audit("accounts.data_exported", subject_type="account", subject_id=account.id)
        log.info("accounts.data_exported", account_id=account.id)
        return document

    def _licenses(self, account: Account) -> list[dict[str, Any]]:
        codes = self.session.scalars(
            select(ActivationCode)
            .where(ActivationCode.account_id == account.id)
            .options(*CODE_WITH_LICENSE)
            .order_by(ActivationCode.id)
        )
        rows = []
        for code in codes:
            license_row = code.license
            rows.append(
                {
                    "activation_code": formats.format_code(self.unit.codes.reveal_code(code)),
                    "plan": code.plan.name,
                    "state": str(code_state(code, self.now)),
                    "added_to_account_at": _iso(code.linked_at),
                    "license": None
                    if license_row is None
                    else {
                        "public_id": license_row.public_id,
                        "starts_at": _iso(license_row.starts_at),
                        "expires_at": _iso(license_row.expires_at),
                        "blocked_reason": license_row.blocked_reason,
                    },
                }
            )
        return rows

    def _orders(self, account: Account, emails: list[str]) -> list[dict[str, Any]]:
        orders = self.session.scalars(
            select(Order)
            .where(or_(Order.account_id == account.id, Order.customer_email.in_(emails)))
            .options(selectinload(Order.items).joinedload(OrderItem.plan, innerjoin=True))
            .order_by(Order.purchased_at)
        )
        return [
            {
                "number": order.number,
                "purchased_at": _iso(order.purchased_at),
                "channel": str(order.channel),
                "status": str(order.status),
                "customer_name": order.customer_name,
                "customer_email": order.customer_email,
                "currency": order.currency,
                "total_cents": order.total_cents,
                "tax_cents": order.tax_cents,
                "refunded_at": _iso(order.refunded_at),
                "items": [
                    {
                        "plan": item.plan.name,
                        "kind": str(item.kind),
                        "quantity": item.quantity,
                        "unit_price_cents": item.unit_price_cents,
                    }
                    for item in order.items
                ],
            }
            for order in orders
        ]

    def _requests(self, account: Account, emails: list[str]) -> list[dict[str, Any]]:
        requests = self.session.scalars(
            select(SupportRequest)
            .where(
                or_(
                    SupportRequest.account_id == account.id,
                    SupportRequest.customer_email.in_(emails),
                )
            )
            .options(
                selectinload(SupportRequest.messages), selectinload(SupportRequest.attachments)
            )
            .order_by(SupportRequest.created_at)
        )
        return [
            {
                "number": request.number,
                "topic": str(request.topic),
                "status": str(request.status),
                "created_at": _iso(request.created_at),
                "customer_name": request.customer_name,
                "customer_email": request.customer_email,
                "order_number": request.order_number,
                "purchase_date": request.purchase_date.isoformat()
                if request.purchase_date
                else None,
                "subject": request.subject,
                # Internal notes are the staff's working notes, not sent to the customer.
                "messages": [
                    {
                        "from": str(message.author),
                        "sent_at": _iso(message.created_at),
                        "text": message.body,
                    }
                    for message in request.messages
                    if not message.internal
                ],
                "attachments": [
                    {"filename": attachment.filename, "uploaded_at": _iso(attachment.created_at)}
                    for attachment in request.attachments
                ],
            }
            for request in requests
        ]

    # erasure -------------------------------------------------------------------------

    def erase(
        self, account: Account, confirm_email: str, reason: str, *, by: Account | None = None
    ) -> list[tuple[str, str]]:
        """Erase the owner's personal data once ``confirm_email`` repeats the account's
        address; FormInvalid for staff, for oneself (``by``) and for an account erased
        already. Audited as ``accounts.erased``. The subscriptions it stopped that a
        provider bills itself, as ``(provider, its id there)``: the caller tells each
        provider once this commits, or it goes on charging the card."""
        reason = clean_reason(reason)
        if account.erased_at is not None:
            raise FormInvalid({"confirm_email": "account_erased"})
        if is_staff(account) or (by is not None and by.id == account.id):
            raise FormInvalid({"confirm_email": "cannot_erase_staff"})
        if normalize_email(confirm_email) != account.email:
            raise FormInvalid({"confirm_email": "email_mismatch"})
        placeholder = erased_email(account.id)
        verified = self.unit.service(CustomerDirectory).verified_emails(account)
        every_address = {account.email, *verified}
        every_address.update(
            self.session.scalars(
                select(AccountEmail.email).where(AccountEmail.account_id == account.id)
            )
        )
        orders = self._erase_orders(account, verified, placeholder)
        requests = self._erase_requests(account, verified, placeholder)
        billed = self._erase_account_rows(account, every_address, placeholder)
        shares = self.unit.license_sharing.erase_for(account, every_address, placeholder)
        account.email = placeholder
        account.password_hash = UNUSABLE_PASSWORD
        account.email_verified_at = None
        account.totp_secret_ciphertext = None
        account.totp_last_step = None
        account.erased_at = self.now
        self.unit.audit(
            "accounts.erased",
            subject_type="account",
            subject_id=account.id,
            reason=reason,
            orders=orders,
            support_requests=requests,
            family_shares=shares,
        )
        log.info("accounts.erased", account_id=account.id, orders=orders, requests=requests)
        return billed

    def _erase_orders(self, account: Account, emails: list[str], placeholder: str) -> int:
        """The buyer's name and address replaced; number, dates, amounts and tax kept."""
        result = self.session.execute(
            update(Order)
            .where(or_(Order.account_id == account.id, Order.customer_email.in_(emails)))
            .values(customer_name=ERASED_NAME, customer_email=placeholder, thanks_token_hash=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def _erase_requests(self, account: Account, emails: list[str], placeholder: str) -> int:
        """Names, addresses, subjects and every message's text replaced; screenshots and
        license proofs (a license key and a device's fingerprint) deleted; the follow link
        made void."""
        ids = list(
            self.session.scalars(
                select(SupportRequest.id).where(
                    or_(
                        SupportRequest.account_id == account.id,
                        SupportRequest.customer_email.in_(emails),
                    )
                )
            )
        )
        if not ids:
            return 0
        for request in self.session.scalars(
            select(SupportRequest).where(SupportRequest.id.in_(ids))
        ):
            request.customer_name = ERASED_NAME
            request.customer_email = placeholder
            request.subject = ""
            request.access_token_hash = secrets.token_bytes(32)
        self.session.execute(
            update(SupportMessage)
            .where(SupportMessage.request_id.in_(ids))
            .values(body="")
            .execution_options(synchronize_session=False)
        )
        self.session.execute(
            delete(LicenseProof)
            .where(LicenseProof.request_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        attachment_ids = select(Attachment.id).where(Attachment.request_id.in_(ids))
        self.session.execute(
            delete(AttachmentContent)
            .where(AttachmentContent.attachment_id.in_(attachment_ids))
            .execution_options(synchronize_session=False)
        )
        self.session.execute(
            delete(Attachment)
            .where(Attachment.request_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        return len(ids)

    def _erase_account_rows(
        self, account: Account, addresses: set[str], placeholder: str
    ) -> list[tuple[str, str]]:
        """Sessions, sign-ins, links, further addresses, recovery codes, device grants and
        queued or sent mail deleted; devices let go; subscriptions stop renewing (those a
        provider bills itself returned, for it to be told)."""
        owned = (WebSession, SignIn, AccountToken, AccountEmail, RecoveryCode, DeviceAuthorization)
        for model in owned:
            self.session.execute(
                delete(model)
                .where(model.account_id == account.id)
                .execution_options(synchronize_session=False)
            )
        self.session.execute(
            delete(SeatReleaseToken)
            .where(SeatReleaseToken.email.in_(addresses))
            .execution_options(synchronize_session=False)
        )
        self.session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.recipient.in_(addresses))
            .execution_options(synchronize_session=False)
        )
        self.session.execute(
            update(AttachApproval)
            .where(AttachApproval.owner_email.in_(addresses))
            .values(owner_email=placeholder)
            .execution_options(synchronize_session=False)
        )
        self.session.execute(
            update(Device)
            .where(Device.account_id == account.id)
            .values(account_id=None, display_name=None)
            .execution_options(synchronize_session=False)
        )
        subscriptions = select(Subscription.id).where(Subscription.account_id == account.id)
        self.session.execute(
            delete(EnrollmentToken)
            .where(EnrollmentToken.subscription_id.in_(subscriptions))
            .execution_options(synchronize_session=False)
        )
        billed = []
        for subscription in self.session.scalars(
            select(Subscription).where(Subscription.account_id == account.id)
        ):
            live = subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
            if live and subscription.provider and subscription.provider_subscription_id:
                billed.append((subscription.provider, subscription.provider_subscription_id))
            subscription.auto_renew = False
            subscription.payment_method = None
            if live:
                subscription.status = SubscriptionStatus.CANCELED
                subscription.canceled_at = self.now
        return billed
