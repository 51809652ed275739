"""``licensor partners``: resellers, their contact details and their keys for the partner API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from licensor.cli.shell import actor, command_unit, console, errors
from licensor.models import PartnerApiKey

app = typer.Typer(
    help="Partners (resellers): contacts, API keys, code allocations.", no_args_is_help=True
)
keys_app = typer.Typer(help="A partner's keys for the partner API.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command("create")
def partners_create(
    slug: Annotated[str, typer.Option(help="Short name used in commands, e.g. shop-milano.")],
    name: Annotated[str, typer.Option(help="Name shown to customers.")],
    email: Annotated[str, typer.Option(help="Where customers write for help.")],
    url: Annotated[str, typer.Option(help="The partner's website.")],
    phone: Annotated[str, typer.Option(help="A phone number for customers.")] = "",
) -> None:
    """Add a partner; customers who bought from it are sent to these contact details."""

    with command_unit() as unit:
        partner = unit.partners.create(
            slug=slug, name=name, email=email, url=url, phone=phone, actor=actor()
        )
        console.print(f"partner [bold]{partner.slug}[/bold] ({partner.name}) created")


@app.command("list")
def partners_list() -> None:
    """List the partners."""

    with command_unit() as unit:
        table = Table("slug", "name", "email", "url", "phone")
        for partner in unit.partners.all():
            details = (partner.name, partner.email, partner.url, partner.phone)
            table.add_row(partner.slug, *(escape(detail) for detail in details))
        console.print(table)


@keys_app.command("create")
def partner_keys_create(
    slug: Annotated[str, typer.Argument(help="The partner's slug.")],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Make a key for the partner API. It is shown once: give it to the partner."""

    with command_unit() as unit:
        partners = unit.partners
        key = partners.create_key(partners.by_slug(slug), label=label, actor=actor())
    print(key)
    errors.print("Shown once: only a hash is kept. Revoke with `licensor partners keys revoke`.")


@keys_app.command("list")
def partner_keys_list(slug: Annotated[str, typer.Argument(help="The partner's slug.")]) -> None:
    """List a partner's keys (their prefixes; the keys themselves are not kept)."""

    with command_unit() as unit:
        partners = unit.partners
        console.print(_keys_table(partners.keys(partners.by_slug(slug))))


def _keys_table(keys: list[PartnerApiKey]) -> Table:
    table = Table("prefix", "label", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.prefix,
            escape(key.label),  # typed by people; a cell is read as rich markup
            f"{key.created_at:%Y-%m-%d}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    return table


@keys_app.command("revoke")
def partner_keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (or the whole key).")],
) -> None:
    """Revoke a partner API key at once."""

    with command_unit() as unit:
        key = unit.partners.revoke_key(prefix, actor=actor())
        console.print(f"key {key.prefix} revoked")


@app.command("edit")
def partners_edit(
    slug: Annotated[str, typer.Argument(help="The partner's slug (it stays).")],
    name: Annotated[str | None, typer.Option(help="Name shown to customers.")] = None,
    email: Annotated[str | None, typer.Option(help="Where customers write for help.")] = None,
    url: Annotated[str | None, typer.Option(help="The partner's website.")] = None,
    phone: Annotated[str | None, typer.Option(help="A phone number for customers.")] = None,
) -> None:
    """Change a partner's contact details; those not given stay as they are."""

    with command_unit() as unit:
        partner = unit.partners.by_slug(slug)
        changed = unit.partners.update(
            partner,
            name=partner.name if name is None else name,
            email=partner.email if email is None else email,
            url=partner.url if url is None else url,
            phone=partner.phone if phone is None else phone,
            actor=actor(),
        )
    console.print(
        f"partner {slug}: " + (", ".join(changed) + " changed" if changed else "nothing changed"),
        highlight=False,
    )


@app.command("show")
def partners_show(slug: Annotated[str, typer.Argument(help="The partner's slug.")]) -> None:
    """Show a partner: contact details, allocations (sold and unsold) and keys."""

    with command_unit() as unit:
        partners = unit.partners
        partner = partners.by_slug(slug)
        # Not markup: the details are typed by people, and may hold "[/…]".
        for line in (
            f"partner {partner.slug}: {partner.name}",
            f"email: {partner.email}",
            f"url: {partner.url}",
            f"phone: {partner.phone}",
        ):
            console.print(line, highlight=False, markup=False)
        allocations = Table("batch", "plan", "codes", "sold", "unsold")
        for allocation in partners.allocations(partner):
            allocations.add_row(
                str(allocation.batch_id),
                allocation.plan,
                str(allocation.count),
                str(allocation.sold),
                str(allocation.count - allocation.sold),
            )
        console.print(allocations)
        console.print(_keys_table(partners.keys(partner)))
