"""My Account's email addresses: the account's own, further ones confirmed by a link
mailed to each, adding and removing them (accounts/emails.py). A confirmed address brings
the orders placed with it into the account (accounts/purchases.py).

The page answers adding an address the same way whoever holds it: only the mail to the
address says when another account has it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.web.access import CustomerPage, PublicPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

PROBLEMS = {
    **FIELD_MESSAGES,
    "email_already_yours": N_("This address is already in your account."),
    "emails_too_many": N_("You can add up to 10 addresses; remove one first."),
    "email_not_waiting": N_("This address is not waiting for a confirmation link."),
    "email_primary": N_(
        "This is your account's main address: change it in Settings instead of removing it."
    ),
}

DONE = {
    "sent": N_(
        "We have sent a confirmation link to the address. It joins your account, with "
        "the orders placed with it, when you open the link."
    ),
    "removed": N_("The address was removed. The orders that joined from it stay in your account."),
}


def emails_page(
    unit: PageUnit,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    email: str = "",
    notice: str | None = None,
) -> Response:
    return unit.render(
        "account/emails.html",
        status=status,
        rows=unit.account_emails.of_account(unit.account),
        errors=errors or {},
        email=email,
        notice=notice,
    )


@router.get("/account/emails", response_class=HTMLResponse)
def emails(request: Request, page: CustomerPage, done: str = "") -> Response:
    with page.open() as unit:
        notice = unit._(DONE[done]) if done in DONE else None
        return emails_page(unit, notice=notice)


@router.post("/account/emails", response_class=HTMLResponse)
def add_email(request: Request, web: Pages, page: CustomerPage, email: Field = "") -> Response:
    with page.open() as unit:
        web.limit("account_email", f"account:{unit.account.id}")
        return form_action(
            unit,
            lambda: unit.account_emails.add(unit.account, email),
            done="/account/emails?done=sent",
            again=lambda status, errors: emails_page(
                unit, status=status, errors=errors, email=email
            ),
            messages=PROBLEMS,
        )


@router.post("/account/emails/resend", response_class=HTMLResponse)
def resend_link(request: Request, web: Pages, page: CustomerPage, email: Field = "") -> Response:
    with page.open() as unit:
        web.limit("account_email", f"account:{unit.account.id}")
        return form_action(
            unit,
            lambda: unit.account_emails.resend(unit.account, email),
            done="/account/emails?done=sent",
            again=lambda status, errors: emails_page(unit, status=status, errors=errors),
            messages=PROBLEMS,
        )


@router.post("/account/emails/remove", response_class=HTMLResponse)
def remove_email(request: Request, page: CustomerPage, email: Field = "") -> Response:
    with page.open() as unit:
        return form_action(
            unit,
            lambda: unit.account_emails.remove(unit.account, email),
            done="/account/emails?done=removed",
            again=lambda status, errors: emails_page(unit, status=status, errors=errors),
            messages=PROBLEMS,
        )


@router.get("/account/emails/confirm", response_class=HTMLResponse)
def confirm_form(request: Request, page: PublicPage, token: str = "") -> Response:
    # A button, not the GET itself: mail scanners follow links.
    with page.open() as unit:
        return unit.render("account/email_confirm.html", token=token, done=None)


@router.post("/account/emails/confirm", response_class=HTMLResponse)
def confirm(request: Request, page: PublicPage, token: Field = "") -> Response:
    with page.open() as unit:
        account = unit.account_emails.confirm(token)
        return unit.render(
            "account/email_confirm.html",
            status=200 if account else 400,
            token="",
            done=account is not None,
        )
