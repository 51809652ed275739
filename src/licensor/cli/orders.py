"""``licensor orders``: the back-office entry of a sale, or of the sale of codes a partner holds."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from licensor.cli.shell import actor, command_context, command_unit, console, errors
from licensor.clock import clock, isoformat
from licensor.dates import plural
from licensor.errors import PaymentUnavailable
from licensor.store.order_admin import OrderAdmin, OrderFilters, OrderRow
from licensor.store.payments import load_provider
from licensor.store.refunds import Refunds
from licensor.units import open_unit

app = typer.Typer(
    help="Orders: back-office entry of a sale; list, show, refund.", no_args_is_help=True
)


@app.command("create")
def orders_create(
    email: Annotated[str, typer.Option(help="The buyer's email address.")],
    name: Annotated[str, typer.Option(help="The buyer's name.")],
    plan: Annotated[
        str | None, typer.Option(help="Plan code (with --code: optional, must match).")
    ] = None,
    partner: Annotated[
        str | None, typer.Option(help="The partner who sold it (its slug); none: our store.")
    ] = None,
    quantity: Annotated[
        int | None, typer.Option(min=1, help="Codes to deliver, one per unit (default 1).")
    ] = None,
    codes: Annotated[
        list[str] | None,
        typer.Option(
            "--code",
            help="Record the sale of this existing code (repeatable; needs --partner): "
            "a partner's allocation or a --sold-at-till card, which activates only then.",
        ),
    ] = None,
    language: Annotated[str, typer.Option(help="Language of the confirmation mail.")] = "en",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {number, purchased_at, codes} as JSON.")
    ] = False,
) -> None:
    """Enter an order by hand. A store order's confirmation mail goes out as for a web
    purchase; a partner's order gets none from us (the partner delivers). With --code,
    record the sale of codes the partner (or a till) already holds instead of new ones."""

    if codes and (partner is None or quantity is not None):
        errors.print(
            "[red]error:[/red] --code records a sale of existing codes: it needs --partner "
            "and takes no --quantity"
        )
        raise typer.Exit(2)
    if not codes and plan is None:
        errors.print("[red]error:[/red] --plan is required (or --partner with --code)")
        raise typer.Exit(2)
    waiting = 0
    with command_unit() as unit:
        if codes and partner is not None:
            placed = unit.partner_sales.record_for(
                partner_slug=partner,
                codes=codes,
                email=email,
                name=name,
                plan_code=plan,
                language=language,
                actor=actor(),
            )
        else:
            assert plan is not None
            placed = unit.orders.create(
                plan_code=plan,
                email=email,
                name=name,
                quantity=quantity or 1,
                partner_slug=partner,
                language=language,
                actor=actor(),
            )
            waiting = unit.partners.unsold_allocated(partner, plan) if partner else 0
    if waiting:
        # New codes were issued; the partner's own cards stay unsold until named.
        errors.print(
            f"note: {partner} holds "
            + plural(waiting, "en", one="{count} unsold code", other="{count} unsold codes")
            + f" of plan {plan} in its "
            "allocation; to record the sale of one it sold, name it with --code"
        )
    if as_json:
        print(json.dumps(placed.as_json()))
        return
    console.print(
        f"order [bold]{placed.number}[/bold] ({placed.purchased_at:%Y-%m-%d %H:%M} UTC), "
        + (f"sold by {placed.partner}" if placed.partner else "our store")
        + ": "
        + plural(len(placed.codes), "en", one="{count} code", other="{count} codes")
    )
    for code in placed.codes:
        console.print(f"  {code}", highlight=False)
    if placed.partner is None:
        console.print(f"confirmation mail queued for {placed.email}")


@app.command("list")
def orders_list(
    status: Annotated[
        str, typer.Option(help="Only orders in this status: pending, paid, failed, refunded.")
    ] = "",
    email: Annotated[str, typer.Option(help="Only orders of this buyer's email.")] = "",
    partner: Annotated[str, typer.Option(help="Only this partner's sales (its slug).")] = "",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List orders, newest first (as the console's orders page does)."""

    filters = OrderFilters(
        status=status, email=email, partner=partner, channel="partner" if partner else ""
    )
    with command_unit() as unit:
        found = unit.service(OrderAdmin).search(filters, limit=limit)
    if as_json:
        print(json.dumps([_row_json(row) for row in found.rows]))
        return
    table = Table("number", "purchased", "buyer", "status", "sold by", "total")
    for row in found.rows:
        # Escaped: a buyer or a store typed these, and a cell is read as rich markup.
        table.add_row(
            escape(row.number),
            f"{row.purchased_at:%Y-%m-%d %H:%M}",
            escape(row.customer_email),
            row.status,
            row.partner or "store",
            f"{row.total_cents / 100:.2f} {row.currency}",
        )
    console.print(table)


def _row_json(row: OrderRow) -> dict[str, object]:
    return {
        "number": row.number,
        "purchased_at": isoformat(row.purchased_at),
        "email": row.customer_email,
        "status": row.status,
        "channel": row.channel,
        "partner": row.partner,
        "provider": row.provider or None,
        "total_cents": row.total_cents,
        "currency": row.currency,
    }


@app.command("show")
def orders_show(
    number: Annotated[str, typer.Argument(help="The order number.")],
    partner: Annotated[str, typer.Option(help="The partner whose order it is (its slug).")] = "",
) -> None:
    """Show an order: buyer, items, status, payment, its codes (masked), the refund."""

    with command_unit() as unit:
        admin = unit.service(OrderAdmin)
        order = admin.order(number, partner or None)
        detail = admin.detail(order)
        lines = [
            f"order {order.number} ({order.status})",
            f"purchased: {order.purchased_at:%Y-%m-%d %H:%M} UTC",
            f"buyer: {order.customer_name} <{order.customer_email}>",
            f"sold by: {order.partner.slug if order.partner else 'store'}",
            f"paid through: {detail.provider or 'entered by hand'}",
            f"total: {order.total_cents / 100:.2f} {order.currency}"
            f" (VAT {order.tax_cents / 100:.2f})",
        ]
        if order.payment_reference:
            lines.append(f"payment reference: {order.payment_reference}")
        if order.provider_payment_id:
            lines.append(f"provider payment id: {order.provider_payment_id}")
        for item in order.items:
            lines.append(f"item: {item.quantity} x {item.plan.code} ({item.kind})")
        for code in detail.codes:
            lines.append(f"code: {code.masked} {code.state} (id {code.id})")
        for event in detail.events:
            lines.append(f"event: {event.provider} {event.event_type} {event.event_id}")
        if order.refunded_at:
            lines.append(f"refunded: {order.refunded_at:%Y-%m-%d %H:%M} UTC: {order.refund_reason}")
    for line in lines:
        # Not markup: a buyer's name or a refund's reason may hold "[/…]".
        console.print(line, highlight=False, markup=False)


@app.command("refund")
def orders_refund(
    number: Annotated[str, typer.Argument(help="The order number.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log and on the order).")],
    partner: Annotated[
        str, typer.Option(help="The partner whose sale it is (its slug): records the refund.")
    ] = "",
) -> None:
    """Refund a paid order: through the payment provider for an order paid in our checkout
    (recorded only, for a partner's sale or an order entered by hand). Its codes are
    blocked with their licenses and the buyer is mailed."""

    with command_context() as (settings, database, keyring):
        provider = load_provider(settings, keyring, clock)
        with open_unit(database, keyring, settings, clock.now(), actor=actor()) as unit:
            order = unit.service(OrderAdmin).order(number, partner or None)
            refunds = unit.service(Refunds)
            request = refunds.prepare(order, reason=reason, provider_name=provider.name)
            order_id = order.id
        if request is not None:
            # Outside any transaction: nothing is held while the provider answers.
            try:
                provider.refund(request)
            except PaymentUnavailable as error:
                errors.print(
                    "[red]error:[/red] the payment provider did not answer or refused the "
                    f"refund ({escape(error.detail)}): nothing has changed; try again"
                )
                raise typer.Exit(1) from None
        with open_unit(database, keyring, settings, clock.now(), actor=actor()) as unit:
            refunded = unit.service(Refunds).complete(order_id, reason=reason, actor=actor())
    if refunded:
        console.print(f"order {number} refunded: its codes are blocked", highlight=False)
    else:
        console.print(f"order {number} was already refunded: nothing changed", highlight=False)
