"""Store pages for customers without an account: order lookup (F5) and the partner directory.

The lookup asks first where the code was bought. Its answer depends only on that choice,
never on whether an order matched: a match is told by mail, to the order's own address
(the confirmation again for our store's orders, the partner to contact for a partner's),
so the page reveals nothing about which orders exist. Nor does its timing: the request
only queues the lookup, which the worker does (``store/lookup.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.accounts.service import email_problem
from licensor.deps import client_address
from licensor.models import Partner
from licensor.store.lookup import LookupRequest
from licensor.store.service import order_number_key
from licensor.web.access import PublicPage
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


WHERE_STORE = "store"
WHERE_UNKNOWN = "unknown"
MAX_NAME = 200  # as the orders table keeps it
MAX_ORDER_NUMBER = 60


@dataclass(frozen=True)
class LookupForm:
    """What the visitor typed, as typed: the form re-renders with it."""

    order_number: str = ""
    purchased_on: str = ""
    name: str = ""
    email: str = ""
    where: str = ""


def _problems(form: LookupForm, partners: list[Partner], today: date) -> dict[str, str]:
    """Required fields and formats only: nothing here depends on which orders exist."""
    errors: dict[str, str] = {}
    if form.where not in {WHERE_STORE, WHERE_UNKNOWN, *(partner.slug for partner in partners)}:
        errors["where"] = "where_required"
    if not form.order_number.strip():
        errors["order_number"] = "required"
    elif len(form.order_number) > MAX_ORDER_NUMBER or not order_number_key(form.order_number):
        errors["order_number"] = "order_number_invalid"
    if form.purchased_on.strip():
        try:
            purchased_on = date.fromisoformat(form.purchased_on.strip())
        except ValueError:
            errors["purchased_on"] = "date_invalid"
        else:
            # The buyer's calendar may be a day ahead of ours.
            if purchased_on > today + timedelta(days=1):
                errors["purchased_on"] = "date_future"
    if not form.name.strip():
        errors["name"] = "required"
    elif len(form.name) > MAX_NAME:
        errors["name"] = "name_too_long"
    if not form.email.strip():
        errors["email"] = "required"
    elif email_problem(form.email.strip()):
        errors["email"] = "email_invalid"
    return errors


def _messages(unit: PageUnit, fields: dict[str, str]) -> dict[str, str]:
    return unit.field_messages(fields, FIELD_MESSAGES)


@router.get("/orders/lookup", response_class=HTMLResponse)
def lookup_form(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        partners = unit.store.partners()
        return unit.render("order_lookup.html", form=LookupForm(), partners=partners, errors={})


@router.post("/orders/lookup", response_class=HTMLResponse)
def lookup(
    request: Request,
    web: Pages,
    page: PublicPage,
    order_number: Field = "",
    purchased_on: Field = "",
    name: Field = "",
    email: Field = "",
    where: Field = "",
) -> Response:
    web.limit("lookup", client_address(request))
    with page.open() as unit:
        store = unit.store
        partners = store.partners()
        form = LookupForm(order_number, purchased_on, name, email, where)
        errors = _problems(form, partners, unit.now.date())
        if errors:
            return unit.render(
                "order_lookup.html",
                status=422,
                form=form,
                partners=partners,
                errors=_messages(unit, errors),
            )
        # Limited per address (above); how often one order is mailed again is the
        # worker's to limit, counting only lookups that matched (store/lookup.py).
        unit.order_lookup.request(
            LookupRequest(
                number=order_number,
                purchased_on=(
                    date.fromisoformat(purchased_on.strip()) if purchased_on.strip() else None
                ),
                name=name,
                email=email,
                where=where,
            ),
            client=client_address(request),
        )
        chosen = next((partner for partner in partners if partner.slug == where), None)
        return unit.render("order_lookup_sent.html", where=where, partner=chosen)


@router.get("/partners", response_class=HTMLResponse)
def partner_directory(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        partners = unit.store.partners()
        return unit.render("partners.html", partners=partners)
