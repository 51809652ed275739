"""Customers (``/console/customers``): accounts with their licenses, orders and requests;
resend verification; disable and enable; export a customer's data (GDPR access) and
erase it (docs/privacy.md).

Finding and reading an account is any staff member's (an agent helping a customer needs
it); disabling, exporting and erasing are admins'. The rules are the services'
(accounts/directory.py, accounts/admin.py, accounts/privacy.py), which ``licensor users``
calls too.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response

from licensor.accounts.admin import CUSTOMER_MESSAGES, CustomerAdmin
from licensor.accounts.directory import CustomerDirectory
from licensor.accounts.privacy import Privacy
from licensor.console.pages import is_admin, render
from licensor.errors import FormInvalid
from licensor.logging import log
from licensor.models import Account
from licensor.store.orders import money
from licensor.store.payments import (
    BillsSubscriptions,
    PaymentProvider,
    Payments,
    PaymentUnavailable,
)
from licensor.web.access import AdminPage, StaffPage
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)
Field = Annotated[str, Form()]

# How the page names the states of what an account holds.
STATES = {
    "code": {
        "issued": N_("Not activated yet"),
        "active": N_("Active"),
        "expired": N_("Expired"),
        "blocked": N_("Blocked"),
    },
    "order": {
        "pending": N_("Payment pending"),
        "paid": N_("Paid"),
        "failed": N_("Payment failed"),
        "refunded": N_("Refunded"),
    },
    "subscription": {
        "active": N_("Active"),
        "past_due": N_("Renewal payment failed"),
        "canceled": N_("Canceled"),
        "expired": N_("Expired"),
    },
    "role": {"customer": N_("Customer"), "agent": N_("Agent"), "admin": N_("Admin")},
    "request": {
        "new": N_("New"),
        "open": N_("Open"),
        "waiting": N_("Waiting on the customer"),
        "solved": N_("Solved"),
    },
}

# What a finished action says on the account's page (``?done=``).
DONE = {
    "verification": N_("A new verification link is on its way to the customer."),
    "disabled": N_("The account is disabled: its sessions have ended and it cannot sign in."),
    "enabled": N_("The account is enabled: it can sign in again."),
    "erased": N_("The customer's personal data has been erased."),
}


def _customer_page(
    unit: PageUnit, account_id: str, *, status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    directory = unit.service(CustomerDirectory)
    profile = directory.profile(directory.account(account_id), unit.language)
    done = unit.request.query_params.get("done", "")
    return render(
        unit,
        "console/customer.html",
        status,
        profile=profile,
        errors=errors or {},
        notice=unit._(DONE[done]) if done in DONE else "",
        money=lambda cents, currency: money(cents, currency, unit.language),
        can_administer=is_admin(unit),
        state=lambda kind, value: unit._(STATES[kind].get(str(value), str(value))),
    )


@router.get("/console/customers")
def customers(page: StaffPage, q: str = "", p: str = "1") -> Response:
    """The list of accounts, newest first, or those matching the search."""
    number = (
        int(p) if p.isascii() and p.isdigit() and len(p) < 7 else 1
    )  # a mangled link: the first page
    with page.open() as unit:
        found = unit.service(CustomerDirectory).search(q, number)
        return render(unit, "console/customers.html", found=found, q=q)


@router.get("/console/customers/{account_id}")
def customer(page: StaffPage, account_id: str) -> Response:
    """One account and everything it holds."""
    with page.open() as unit:
        return _customer_page(unit, account_id)


@router.post("/console/customers/{account_id}/verification")
def resend_verification(page: StaffPage, account_id: str) -> Response:
    """Send the verification mail again (unverified accounts; once in 10 minutes)."""
    with page.open() as unit:
        account = unit.service(CustomerDirectory).account(account_id)
        try:
            unit.service(CustomerAdmin).resend_verification(account)
        except FormInvalid as error:
            errors = unit.field_messages(error.fields, CUSTOMER_MESSAGES, prefix="")
            return _customer_page(unit, account_id, status=422, errors=errors)
        return unit.redirect(f"/console/customers/{account_id}?done=verification")


@router.post("/console/customers/{account_id}/disable")
def disable(page: AdminPage, account_id: str, reason: Field = "") -> Response:
    """Disable the account (admins): sessions end, sign-in refuses, the owner is told."""
    with page.open() as unit:
        account = unit.service(CustomerDirectory).account(account_id)
        try:
            unit.service(CustomerAdmin).disable(account, reason, by=unit.account)
        except FormInvalid as error:
            errors = unit.field_messages(error.fields, CUSTOMER_MESSAGES, prefix="disable_")
            return _customer_page(unit, account_id, status=422, errors=errors)
        return unit.redirect(f"/console/customers/{account_id}?done=disabled")


@router.post("/console/customers/{account_id}/enable")
def enable(page: AdminPage, account_id: str, reason: Field = "") -> Response:
    """Let a disabled account sign in again (admins)."""
    with page.open() as unit:
        account = unit.service(CustomerDirectory).account(account_id)
        unit.service(CustomerAdmin).enable(account, reason)
        return unit.redirect(f"/console/customers/{account_id}?done=enabled")


@router.post("/console/customers/{account_id}/export")
def export(page: AdminPage, account_id: str) -> Response:
    """The customer's data as a JSON file to download (admins); audited."""
    with page.open() as unit:
        account = unit.service(CustomerDirectory).account(account_id)
        document = unit.service(Privacy).export(account)
        return _json_download(document, f"customer-{account_id}.json")


def _json_download(document: dict[str, Any], filename: str) -> Response:
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _erase_page(
    unit: PageUnit,
    account: Account,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    confirm_email: str = "",
) -> Response:
    return render(
        unit,
        "console/customer_erase.html",
        status,
        account=account,
        errors=errors or {},
        confirm_email=confirm_email,
    )


@router.get("/console/customers/{account_id}/erase")
def erase_form(page: AdminPage, account_id: str) -> Response:
    """What erasure removes and keeps, and the form that confirms it (admins)."""
    with page.open() as unit:
        return _erase_page(unit, unit.service(CustomerDirectory).account(account_id))


@router.post("/console/customers/{account_id}/erase")
def erase(
    page: AdminPage,
    provider: Payments,
    account_id: str,
    confirm_email: Field = "",
    reason: Field = "",
) -> Response:
    """Erase the customer's personal data (admins), once the email is typed again."""
    with page.open() as unit:
        account = unit.service(CustomerDirectory).account(account_id)
        try:
            billed = unit.service(Privacy).erase(account, confirm_email, reason, by=unit.account)
        except FormInvalid as error:
            errors = unit.field_messages(error.fields, CUSTOMER_MESSAGES)
            return _erase_page(
                unit, account, status=422, errors=errors, confirm_email=confirm_email
            )
        answer = unit.redirect(f"/console/customers/{account.id}?done=erased")
    stop_billing(provider, billed)  # committed: the provider is told outside it
    return answer


def stop_billing(provider: PaymentProvider, billed: list[tuple[str, str]]) -> None:
    """Tell the provider to stop billing the subscriptions an erasure ended (the console's
    and ``licensor users erase``'s), once that is committed: no transaction waits on it.
    One it cannot be told of is logged for an operator, as the erasure stands."""
    for name, subscription_id in billed:
        try:
            if name != provider.name or not isinstance(provider, BillsSubscriptions):
                raise PaymentUnavailable()
            provider.set_renewal(subscription_id, renews=False)
        except PaymentUnavailable:
            log.error(
                "payments.stop_billing_failed",
                provider=name,
                subscription=subscription_id,
                hint="cancel the subscription in the provider's dashboard",
            )
