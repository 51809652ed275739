"""Webhooks (``/console/webhooks``, admins): the vendor's endpoints, their latest
deliveries (status, attempts, last error), and "Resend" on each: a new attempt of the same
delivery, with the same ``webhook-id``, audited. Endpoints are made with ``licensor
webhooks create``, which shows the signing secret once (docs/webhooks.md)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from licensor.console.pages import render
from licensor.deps import RowId
from licensor.models import WebhookDelivery
from licensor.web.access import AdminPage
from licensor.web.i18n import N_

router = APIRouter(include_in_schema=False)

DELIVERIES_SHOWN = 50
NOTICES = {"resent": N_("The delivery is queued again: the worker sends it shortly.")}
STATES = {
    "delivered": N_("Delivered"),
    "failed": N_("Given up"),
    "pending": N_("Waiting"),
}


def state(delivery: WebhookDelivery) -> str:
    """delivered, failed (given up) or pending."""
    if delivery.delivered_at is not None:
        return "delivered"
    if delivery.failed_at is not None:
        return "failed"
    return "pending"


@router.get("/console/webhooks", response_class=HTMLResponse)
def webhooks_page(page: AdminPage, endpoint: int | None = None, done: str = "") -> Response:
    with page.open() as unit:
        return render(
            unit,
            "console/webhooks.html",
            endpoints=unit.webhooks.endpoints(),
            deliveries=unit.webhooks.deliveries(endpoint, limit=DELIVERIES_SHOWN),
            chosen=endpoint,
            state=state,
            states=STATES,
            notice=unit._(NOTICES[done]) if done in NOTICES else "",
        )


@router.post("/console/webhooks/deliveries/{delivery_id}/resend", response_class=HTMLResponse)
def delivery_resend(page: AdminPage, delivery_id: RowId) -> Response:
    with page.open() as unit:
        unit.webhooks.resend(delivery_id)
        return unit.redirect("/console/webhooks?done=resent")
