"""The support form (/support) and its confirmation (My Account's list of requests is
``account_requests.py``).

The form is two steps without JavaScript: ``/support`` asks the topic, ``/support?topic=``
shows the fields that topic needs. The screenshots are bounded and checked before the
transaction opens (``customer_pages.py``); the route then calls ``Support``.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.errors import FormInvalid
from licensor.models import Topic
from licensor.support.proofs import MAX_PROOF_BYTES
from licensor.support.service import TOPIC_FIELDS, RequestForm
from licensor.support.uploads import MAX_FILES
from licensor.support.views.customer_pages import (
    TOPIC_LABELS,
    TOPICS,
    SupportPage,
    SupportPages,
    actor,
    customer,
    messages,
    posted_form,
    posted_proof,
    posted_uploads,
    text_field,
)
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

TOPIC_HINTS: dict[str, str] = {
    Topic.RECOVER_CARD_CODE: N_(
        "The card is lost, but the code was activated in the app: a screenshot of its "
        "License details window leads us to the code."
    ),
    Topic.RECOVER_ONLINE_CODE: N_(
        "You bought the code in our store and no longer have the confirmation email."
    ),
    Topic.MISSING_PURCHASE: N_(
        "You bought a code or a subscription, but My Account does not show it."
    ),
    Topic.OTHER: N_("Any other question about your licenses, devices or purchases."),
}


def _form_page(
    unit: PageUnit,
    form: RequestForm,
    errors: dict[str, str] | None = None,
    refused_filename: str = "",
    layout: str = "",
    proof_text: str = "",
) -> Response:
    topic = form.topic if form.topic in TOPIC_FIELDS else None
    signed_in = customer(unit)
    return unit.render(
        "support/form.html",
        status=422 if errors else 200,
        topics=TOPICS,
        topic_labels=TOPIC_LABELS,
        topic_hints=TOPIC_HINTS,
        topic=topic,
        fields=TOPIC_FIELDS[topic] if topic else None,
        form=form,
        errors=errors or {},
        refused_filename=refused_filename,
        account_email=signed_in.email if signed_in else None,
        max_files=MAX_FILES,
        proof_text=proof_text,
        layout="all" if layout == "all" or topic is None else "topic",
    )


@router.get("/support", response_class=HTMLResponse)
def support_form(page: SupportPage, topic: str = "") -> Response:
    with page.open() as unit:
        signed_in = customer(unit)
        form = RequestForm(topic=topic, email=signed_in.email if signed_in else "")
        return _form_page(unit, form)


@router.post("/support", response_class=HTMLResponse)
def open_request(request: Request, web: SupportPages, page: SupportPage) -> Response:
    web.check_csrf(request)  # before any image is decoded
    posted = posted_form(request)
    form = RequestForm(
        topic=text_field(posted, "topic"),
        name=text_field(posted, "name"),
        email=text_field(posted, "email"),
        purchase_date=text_field(posted, "purchase_date"),
        order_number=text_field(posted, "order_number"),
        subject=text_field(posted, "subject"),
        message=text_field(posted, "message"),
    )
    uploads = posted_uploads(posted)
    proof = posted_proof(posted)
    with page.open() as unit:
        # The purchase date as typed in the page's language (05/12/2026 in Italian), or ISO.
        form = replace(form, purchase_date=unit.typed_date(form.purchase_date))
        signed_in = customer(unit)
        try:
            opened = unit.support.open_request(
                form,
                uploads,
                account=signed_in,
                language=unit.language,
                actor=actor(request, signed_in),
                proof=proof,
            )
        except FormInvalid as error:
            problems = messages(unit, error.fields)
            pasted = text_field(posted, "proof_text")
            return _form_page(
                unit, form, problems, uploads.refused_filename, proof_text=pasted[:MAX_PROOF_BYTES]
            )
        return unit.render(
            "support/sent.html",
            number=opened.number,
            email=signed_in.email if signed_in else form.email.strip(),
            signed_in=signed_in is not None,
        )
