"""Webhooks (``/console/webhooks``, admins): the vendor's endpoints, their latest
deliveries (status, attempts, last error), and "Resend" on each: a new attempt of the same
delivery, with the same ``webhook-id``, audited. An admin adds an endpoint (the same rules
as ``licensor webhooks create``: http(s) only, no private or loopback address unless
allowed), disables and enables it, and rotates its secret; a new secret is shown once, on
the answer to the form that made it (never in a redirect's address), on a page no cache
keeps (docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from licensor.console.pages import render
from licensor.deps import RowId
from licensor.errors import WebhookEventUnknown, WebhookUrlRefused
from licensor.models import WebhookDelivery, WebhookEndpoint
from licensor.web.access import AdminPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit
from licensor.webhooks.events import EVENTS

router = APIRouter(include_in_schema=False)

DELIVERIES_SHOWN = 50
NOTICES = {
    "resent": N_("The delivery is queued again: the worker sends it shortly."),
    "disabled": N_("The endpoint is disabled: nothing more is sent to it."),
    "enabled": N_("The endpoint is enabled: events from now on are sent to it."),
}
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


def new_endpoint_page(
    unit: PageUnit,
    status: int = 200,
    errors: dict[str, str] | None = None,
    *,
    url: str = "",
    events: list[str] | None = None,
    description: str = "",
) -> HTMLResponse:
    return render(
        unit,
        "console/webhook_new.html",
        status,
        errors=errors or {},
        values={"url": url, "description": description},
        chosen_events=events or [],
        all_events=EVENTS,
    )


def secret_page(
    unit: PageUnit, endpoint: WebhookEndpoint, secret: str, *, rotated: bool
) -> HTMLResponse:
    """The secret, this once: no cache may keep the page."""
    response = render(
        unit, "console/webhook_secret.html", endpoint=endpoint, secret=secret, rotated=rotated
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/console/webhooks/new", response_class=HTMLResponse)
def endpoint_new(page: AdminPage) -> Response:
    with page.open() as unit:
        return new_endpoint_page(unit)


@router.post("/console/webhooks", response_class=HTMLResponse)
def endpoint_create(
    page: AdminPage,
    url: Annotated[str, Form()] = "",
    event: Annotated[list[str] | None, Form()] = None,
    description: Annotated[str, Form()] = "",
) -> Response:
    events = event or []
    with page.open() as unit:
        return form_action(
            unit,
            lambda: unit.webhooks.create(url, events, description=description),
            done=lambda made: secret_page(unit, made[0], made[1], rotated=False),
            again=lambda status, errors: new_endpoint_page(
                unit, status, errors, url=url, events=events, description=description
            ),
            messages={},
            refusals={WebhookUrlRefused: "url", WebhookEventUnknown: "events"},
        )


@router.post("/console/webhooks/{endpoint_id}/disable", response_class=HTMLResponse)
def endpoint_disable(page: AdminPage, endpoint_id: RowId) -> Response:
    with page.open() as unit:
        unit.webhooks.disable(endpoint_id)
        return unit.redirect("/console/webhooks?done=disabled")


@router.post("/console/webhooks/{endpoint_id}/enable", response_class=HTMLResponse)
def endpoint_enable(page: AdminPage, endpoint_id: RowId) -> Response:
    with page.open() as unit:
        unit.webhooks.enable(endpoint_id)
        return unit.redirect("/console/webhooks?done=enabled")


@router.post("/console/webhooks/{endpoint_id}/rotate-secret", response_class=HTMLResponse)
def endpoint_rotate_secret(page: AdminPage, endpoint_id: RowId) -> Response:
    with page.open() as unit:
        endpoint, secret = unit.webhooks.rotate_secret(endpoint_id)
        return secret_page(unit, endpoint, secret, rotated=True)
