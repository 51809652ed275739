"""``licensor webhooks``: the vendor's endpoints for events (Standard Webhooks), and what
was delivered to them (docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from licensor.cli.shell import command_unit, console, errors
from licensor.models import WebhookDelivery

app = typer.Typer(
    help="Webhooks: endpoints of the vendor's systems that receive events, and deliveries.",
    no_args_is_help=True,
)


@app.command("create")
def webhooks_create(
    url: Annotated[str, typer.Option(help="Where events are POSTed (http or https).")],
    event: Annotated[
        list[str] | None,
        typer.Option(help="An event it takes (repeatable); none: every event."),
    ] = None,
    description: Annotated[str, typer.Option(help="What the endpoint is for.")] = "",
) -> None:
    """Add an endpoint. Its signing secret is shown once: give it to the receiver."""

    with command_unit() as unit:
        endpoint, secret = unit.webhooks.create(url, event or (), description=description)
        endpoint_id = endpoint.id
    print(secret)
    errors.print(
        f"endpoint {endpoint_id} created. The secret is shown once: only its encrypted form "
        "is kept. Receivers verify each delivery with it (docs/webhooks.md)."
    )


@app.command("list")
def webhooks_list() -> None:
    """List the endpoints."""

    with command_unit() as unit:
        table = Table("id", "url", "events", "created", "disabled")
        for endpoint in unit.webhooks.endpoints():
            table.add_row(
                str(endpoint.id),
                escape(endpoint.url),
                ", ".join(endpoint.events) or "all",
                f"{endpoint.created_at:%Y-%m-%d}",
                f"{endpoint.disabled_at:%Y-%m-%d %H:%M}" if endpoint.disabled_at else "",
            )
        console.print(table)


@app.command("disable")
def webhooks_disable(
    endpoint_id: Annotated[int, typer.Argument(metavar="ID", help="The endpoint's id.")],
) -> None:
    """Stop sending events to an endpoint; what waits for it is not sent."""

    with command_unit() as unit:
        endpoint = unit.webhooks.disable(endpoint_id)
        console.print(f"endpoint {endpoint.id} disabled")


@app.command("enable")
def webhooks_enable(
    endpoint_id: Annotated[int, typer.Argument(metavar="ID", help="The endpoint's id.")],
) -> None:
    """Send events to a disabled endpoint again, from now on."""

    with command_unit() as unit:
        endpoint = unit.webhooks.enable(endpoint_id)
        console.print(f"endpoint {endpoint.id} enabled")


@app.command("rotate-secret")
def webhooks_rotate_secret(
    endpoint_id: Annotated[int, typer.Argument(metavar="ID", help="The endpoint's id.")],
) -> None:
    """Give an endpoint a new signing secret, shown once; the old one keeps signing
    beside it for 24 hours, while the receiver switches."""

    with command_unit() as unit:
        endpoint, secret = unit.webhooks.rotate_secret(endpoint_id)
        endpoint_id, until = endpoint.id, endpoint.previous_secret_until
    print(secret)
    errors.print(
        f"endpoint {endpoint_id} has a new secret, shown once. Deliveries are signed with "
        f"the old one too until {until:%Y-%m-%d %H:%M} UTC: give the receiver the new one "
        "before then (docs/webhooks.md)."
    )


@app.command("deliveries")
def webhooks_deliveries(
    endpoint: Annotated[int | None, typer.Option(help="Only this endpoint's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """List the latest deliveries: their event, status, attempts and last error."""

    with command_unit() as unit:
        # A line each, never folded: the webhook-id is what the receiver's logs are
        # searched for, and a script may read the lines.
        for delivery in unit.webhooks.deliveries(endpoint, limit=limit):
            last = delivery.last_error or str(delivery.last_status or "")
            console.print(
                f"{delivery.id}\tendpoint {delivery.endpoint_id}\t{delivery.event_type}\t"
                f"{delivery.message_id}\t{delivery_state(delivery)}\t"
                f"attempts {delivery.attempts}\t{escape(last)}",
                highlight=False,
            )


@app.command("resend")
def webhooks_resend(
    delivery_id: Annotated[int, typer.Argument(metavar="DELIVERY_ID", help="Its id.")],
) -> None:
    """Send a delivery again, with the same webhook-id; the worker sends it."""

    with command_unit() as unit:
        delivery = unit.webhooks.resend(delivery_id)
        console.print(f"delivery {delivery.id} ({delivery.message_id}) queued again")


def delivery_state(delivery: WebhookDelivery) -> str:
    """delivered, failed (given up) or pending."""
    if delivery.delivered_at is not None:
        return "delivered"
    if delivery.failed_at is not None:
        return "failed"
    return "pending"
