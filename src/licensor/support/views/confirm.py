"""An order's own address answers the question an agent asked it (/support/confirm/TOKEN,
``support/desk/approvals.py``): may the order, or a code of it, join the account named?"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from licensor.deps import client_address
from licensor.errors import LicenseLinkedElsewhere, OrderLinkedElsewhere
from licensor.support.desk.approvals import Question
from licensor.support.views.customer_pages import FOLLOW_LIMIT, private
from licensor.web.access import PublicPage
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)


def _attach_page(
    unit: PageUnit,
    token: str,
    status: int = 200,
    *,
    outcome: str | None = None,
    question: Question | None = None,
    error: str | None = None,
) -> Response:
    if question is None and outcome is None:
        question = unit.approvals.question(token)
        status = status if question is not None else 404
    return private(
        unit.render(
            "support/attach_confirm.html",
            status=status,
            token=token,
            question=question,
            outcome=outcome,
            error=error,
        )
    )


@router.get("/support/confirm/{token}", response_class=HTMLResponse, dependencies=FOLLOW_LIMIT)
def attach_question(page: PublicPage, token: str) -> Response:
    """The question only: opening the link (as mail scanners do) changes nothing."""
    with page.open() as unit:
        return _attach_page(unit, token)


@router.post("/support/confirm/{token}", response_class=HTMLResponse, dependencies=FOLLOW_LIMIT)
def attach_answer(
    request: Request,
    page: PublicPage,
    token: str,
    decision: Annotated[str, Form()] = "",
) -> Response:
    with page.open() as unit:
        attaching = unit.attaching
        question = attaching.approvals.question(token)
        if question is None:
            return _attach_page(unit, token, 400, outcome="gone")
        address = client_address(request)
        if decision == "confirm":
            try:
                attaching.confirm(token, address)
            except (OrderLinkedElsewhere, LicenseLinkedElsewhere) as error:
                return _attach_page(unit, token, 409, question=question, error=unit._(error.title))
            return _attach_page(unit, token, outcome="confirmed", question=question)
        if decision == "decline":
            attaching.approvals.answer(token, confirmed=False, address=address)
            return _attach_page(unit, token, outcome="declined", question=question)
        return _attach_page(unit, token, 422, question=question, error=unit._("Choose yes or no."))
