"""Order lookup (F5), for customers without an account.

The form asks first where the code was bought. Its answer depends only on that choice,
never on whether an order matched: a match is told by mail, to the order's own address
(the confirmation again for our store's orders, the partner to contact for a partner's),
so the page reveals nothing about which orders exist. Nor does its timing: the request
only queues the lookup, which the worker does (``store/order_lookup.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.deps import client_address
from licensor.store.order_lookup import LookupForm
from licensor.web.access import PublicPage
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import Pages

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]


@router.get("/orders/lookup", response_class=HTMLResponse)
def lookup_form(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        partners = unit.partners.all()
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
        partners = unit.partners.all()
        # The date as typed in the page's language (05/12/2026 in Italian), or ISO.
        typed_on = unit.typed_date(purchased_on)
        form = LookupForm(order_number, typed_on, name, email, where)
        errors = form.problems(partners, unit.now.date())
        if errors:
            return unit.render(
                "order_lookup.html",
                status=422,
                form=form,
                partners=partners,
                errors=unit.field_messages(errors, FIELD_MESSAGES),
            )
        # Limited per address (above); how often one order is mailed again is the
        # worker's to limit, counting only lookups that matched (store/order_lookup.py).
        unit.order_lookup.request(form.request(), client=client_address(request))
        chosen = next((partner for partner in partners if partner.slug == where), None)
        return unit.render("order_lookup_sent.html", where=where, partner=chosen)
