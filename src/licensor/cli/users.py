"""``licensor users``: accounts that can sign in at once (customers, agents, admins)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from licensor.accounts.admin import CUSTOMER_MESSAGES, CustomerAdmin
from licensor.accounts.directory import CustomerDirectory
from licensor.accounts.privacy import Privacy
from licensor.cli.shell import actor, command_context, command_unit, console, errors
from licensor.clock import clock
from licensor.errors import FormInvalid
from licensor.units import UnitOfWork, open_unit
from licensor.web.messages import field_message

app = typer.Typer(help="Accounts: customers, support agents, admins.", no_args_is_help=True)


@app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Email address (sign-in name).")],
    role: Annotated[str, typer.Option(help="customer, agent or admin.")] = "customer",
    totp_secret: Annotated[
        str | None, typer.Option(help="Enrol two-factor with this base32 secret.")
    ] = None,
    language: Annotated[str, typer.Option(help="en or it.")] = "en",
) -> None:
    """Create an account that can sign in at once (password from LICENSOR_PASSWORD or a prompt)."""
    password = os.environ.get("LICENSOR_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    with command_context() as (settings, database, keyring):
        try:
            with open_unit(database, keyring, settings, clock.now(), actor=actor()) as unit:
                account = unit.accounts.create(
                    email,
                    password,
                    roles=[role],
                    language=language,
                    verified=True,
                    totp_secret=totp_secret,
                )
                summary = f"{account.email} ({', '.join(account.roles)})"
        except FormInvalid as error:
            for field, problem in error.fields.items():
                errors.print(f"[red]error:[/red] {field}: {field_message(problem)}")
            raise typer.Exit(1) from None
    two_factor = " with two-factor sign-in" if totp_secret else ""
    if not totp_secret and role in ("agent", "admin"):
        two_factor = "; two-factor sign-in is set up at its first sign-in"
    console.print(f"account {summary} created{two_factor}; it can sign in now")


# --- customers: the console's Customers section, from the shell (same services) ------------


@contextmanager
def _customer_unit() -> Iterator[UnitOfWork]:
    """A command's unit; a refused action's problems printed as the console words them."""
    with command_unit() as unit:
        try:
            yield unit
        except FormInvalid as error:  # nothing was changed: the services check first
            for field, problem in error.fields.items():
                message = CUSTOMER_MESSAGES.get(problem) or field_message(problem)
                errors.print(f"[red]error:[/red] {field}: {message}")
            raise typer.Exit(1) from None


def _state(row_disabled: bool, row_erased: bool) -> str:
    return "erased" if row_erased else "disabled" if row_disabled else "enabled"


@app.command("list")
def users_list(
    search: Annotated[
        str, typer.Option(help="Start of an email, a name on an order, or an account number.")
    ] = "",
    page: Annotated[int, typer.Option(help="Page of 25, newest accounts first.")] = 1,
) -> None:
    """List accounts (or those matching --search), newest first."""
    with _customer_unit() as unit:
        found = unit.service(CustomerDirectory).search(search, page)
        table = Table("id", "email", "verified", "created", "last sign-in", "licenses", "state")
        for row in found.rows:
            table.add_row(
                str(row.id),
                row.email,
                "yes" if row.verified else "no",
                row.created_at.date().isoformat(),
                row.last_sign_in_at.isoformat(timespec="minutes") if row.last_sign_in_at else "",
                str(row.licenses),
                _state(row.disabled, row.erased),
            )
        console.print(table)
        if found.more:
            console.print(f"more: --page {found.page + 1}")


@app.command("show")
def users_show(email: Annotated[str, typer.Argument(help="The account's email.")]) -> None:
    """An account and what it holds (codes masked)."""
    with _customer_unit() as unit:
        directory = unit.service(CustomerDirectory)
        profile = directory.profile(directory.by_email(email))
        account = profile.account
        console.print(f"account {account.id}: {account.email}", highlight=False)
        console.print(
            f"state: {_state(account.disabled_at is not None, account.erased_at is not None)}"
        )
        console.print(f"verified: {'yes' if account.email_verified_at else 'no'}")
        console.print(f"roles: {', '.join(account.roles)}")
        console.print(f"two-factor: {'on' if profile.two_factor else 'off'}")
        for address in profile.addresses:
            verified = "verified" if address.verified_at else "not verified"
            console.print(f"address: {address.email} ({verified})", highlight=False)
        for row in profile.licenses:
            console.print(f"license: {row.public_id} {row.masked} {row.plan} {row.state}")
        for row in profile.unactivated:
            console.print(f"code not activated: {row.masked} {row.plan} {row.state}")
        for order in profile.orders:
            total = f"{order.total_cents / 100:.2f} {order.currency}"
            console.print(
                f"order: {order.number} {order.purchased_at.date()} {total} {order.status}"
            )
        for subscription in profile.subscriptions:
            console.print(f"subscription: {subscription.plan.name} {subscription.status}")
        for device in profile.devices:
            console.print(f"device: {device.reported_name} ({device.platform})", highlight=False)
        for request in profile.requests:
            console.print(f"support request: {request.number} {request.status}")


@app.command("disable")
def users_disable(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    reason: Annotated[str, typer.Option(help="Why (for the audit log).")],
) -> None:
    """Disable an account: its sessions end, it cannot sign in, its owner is mailed."""
    with _customer_unit() as unit:
        account = unit.service(CustomerDirectory).by_email(email)
        ended = unit.service(CustomerAdmin).disable(account, reason)
    sessions = "1 session" if ended == 1 else f"{ended} sessions"
    console.print(f"account {email} disabled; {sessions} ended", highlight=False)


@app.command("enable")
def users_enable(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    reason: Annotated[str, typer.Option(help="Why (for the audit log).")] = "",
) -> None:
    """Let a disabled account sign in again."""
    with _customer_unit() as unit:
        account = unit.service(CustomerDirectory).by_email(email)
        changed = unit.service(CustomerAdmin).enable(account, reason)
    console.print(f"account {email} {'enabled' if changed else 'was not disabled'}")


@app.command("resend-verification")
def users_resend_verification(
    email: Annotated[str, typer.Argument(help="The account's email.")],
) -> None:
    """Send the verification mail again (unverified accounts, once in 10 minutes)."""
    with _customer_unit() as unit:
        account = unit.service(CustomerDirectory).by_email(email)
        unit.service(CustomerAdmin).resend_verification(account)
    console.print(f"verification mail queued for {email}")


@app.command("export")
def users_export(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    out: Annotated[Path, typer.Option(help="Where to write the JSON document.")],
) -> None:
    """Write everything held about a customer to a JSON file (GDPR access); audited."""
    with _customer_unit() as unit:
        account = unit.service(CustomerDirectory).by_email(email)
        document = unit.service(Privacy).export(account)
        # Written before the commit: the audit row never names a file that was not made.
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, ensure_ascii=False)
    console.print(f"wrote {out}", highlight=False)


@app.command("erase")
def users_erase(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    reason: Annotated[str, typer.Option(help="Why (for the audit log).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data, keeping what law and fraud prevention need
    (docs/privacy.md). Cannot be undone."""
    if not yes:
        typer.confirm(f"Erase the personal data of {email}? This cannot be undone", abort=True)
    with _customer_unit() as unit:
        account = unit.service(CustomerDirectory).by_email(email)
        billed = unit.service(Privacy).erase(account, email, reason)
        placeholder = account.email
    if billed:
        from licensor.console.customers import stop_billing
        from licensor.store.payments import load_provider

        with command_context() as (settings, _database, keyring):
            stop_billing(load_provider(settings, keyring, clock), billed)
    console.print(f"erased {email}; the account is now {placeholder}", highlight=False)


# --- staff: invitations, roles, removal (accounts/staff.py, as /console/staff) ------------


@contextmanager
def _staff_unit() -> Iterator[UnitOfWork]:
    """A command's unit; a refusal printed as the console words it, exit 1."""
    from licensor.accounts.staff import STAFF_PROBLEMS
    from licensor.errors import NotFound

    with command_unit() as unit:
        try:
            yield unit
        except FormInvalid as error:  # nothing was changed: the services check first
            for field, problem in error.fields.items():
                message = STAFF_PROBLEMS.get(problem) or field_message(problem)
                errors.print(f"[red]error:[/red] {field}: {message}")
            raise typer.Exit(1) from None
        except NotFound as error:
            errors.print(f"[red]error:[/red] {error.detail}")
            raise typer.Exit(1) from None


@app.command("invite")
def users_invite(
    email: Annotated[str, typer.Option(help="The address to invite.")],
    role: Annotated[str, typer.Option(help="agent or admin.")],
    by: Annotated[
        str | None,
        typer.Option(help="The admin the mail names as inviter (default: the first admin)."),
    ] = None,
    language: Annotated[
        str, typer.Option(help="en or it, for an address without an account.")
    ] = "en",
) -> None:
    """Mail an invitation to join the staff: a one-time link, good for 7 days, to choose a
    password (or give the account's) and set up two-factor sign-in."""
    from licensor.accounts.staff import Staff

    with _staff_unit() as unit:
        staff = unit.service(Staff)
        inviter = staff.member(by) if by else None
        invitation = staff.invite(email, role, inviter=inviter, language=language)
        expires = invitation.expires_at.isoformat(timespec="minutes")
    console.print(
        f"invitation mailed to {invitation.email} as {invitation.role}, in the name of "
        f"{invitation.invited_by}; the link works until {expires}",
        highlight=False,
    )


@app.command("staff")
def users_staff(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the agents and admins, and the invitations waiting."""
    from licensor.accounts.staff import Staff

    with _staff_unit() as unit:
        staff = unit.service(Staff)
        members, invitations = staff.members(), staff.invitations()
    if as_json:
        print(
            json.dumps(
                {
                    "staff": [
                        {
                            "email": m.email,
                            "role": m.role,
                            "two_factor": m.two_factor,
                            "last_sign_in": m.last_sign_in.isoformat() if m.last_sign_in else None,
                            "invited_by": m.invited_by,
                        }
                        for m in members
                    ],
                    "invitations": [
                        {
                            "email": i.email,
                            "role": i.role,
                            "invited_by": i.invited_by,
                            "expires_at": i.expires_at.isoformat(),
                        }
                        for i in invitations
                    ],
                }
            )
        )
        return
    table = Table("email", "role", "two-factor", "last sign-in", "invited by")
    for member in members:
        table.add_row(
            member.email,
            member.role,
            "enrolled" if member.two_factor else "at first sign-in",
            member.last_sign_in.isoformat(timespec="minutes") if member.last_sign_in else "never",
            member.invited_by or "",
        )
    console.print(table)
    for invitation in invitations:
        console.print(
            f"invited: {invitation.email} as {invitation.role} by {invitation.invited_by}, "
            f"until {invitation.expires_at.isoformat(timespec='minutes')}",
            highlight=False,
        )


@app.command("set-role")
def users_set_role(
    email: Annotated[str, typer.Argument(help="A member of staff's address.")],
    role: Annotated[str, typer.Option(help="agent or admin.")],
) -> None:
    """Make a member of staff an agent or an admin (the last admin stays one)."""
    from licensor.accounts.staff import Staff

    with _staff_unit() as unit:
        staff = unit.service(Staff)
        account = staff.set_role(staff.member(email).id, role, by=None)
        summary = f"{account.email} is now {role}"
    console.print(summary, highlight=False)


@app.command("remove-staff")
def users_remove_staff(
    email: Annotated[str, typer.Argument(help="A member of staff's address.")],
) -> None:
    """Take the staff roles away (the account stays, a customer) and end its sessions."""
    from licensor.accounts.staff import Staff

    with _staff_unit() as unit:
        staff = unit.service(Staff)
        account = staff.remove(staff.member(email).id, by=None)
        summary = f"{account.email} is no longer staff; its sessions ended"
    console.print(summary, highlight=False)


@app.command("revoke-invite")
def users_revoke_invite(
    email: Annotated[str, typer.Argument(help="The invited address.")],
) -> None:
    """Revoke the invitation waiting for an address: its link stops working."""
    from licensor.accounts.staff import Staff

    with _staff_unit() as unit:
        staff = unit.service(Staff)
        revoked = staff.revoke_invitations_to(email)
    if not revoked:
        errors.print(f"[red]error:[/red] no invitation is waiting for {email}")
        raise typer.Exit(1)
    console.print(f"the invitation to {email} is revoked", highlight=False)
