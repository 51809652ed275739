"""The ``licensor`` command: what a vendor runs to serve, migrate and manage licensing."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from licensor.clock import clock
from licensor.config import Settings, get_settings
from licensor.db import Database
from licensor.errors import FormInvalid, LicensorError
from licensor.keys import KeyMaterialError, Keyring, load_keyring
from licensor.licensing import formats
from licensor.logging import configure_logging
from licensor.units import UnitOfWork, open_unit
from licensor.web.messages import field_message

app = typer.Typer(
    name="licensor",
    help="Licensor: license server, codes and plans for vendors of desktop software.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
plans_app = typer.Typer(
    help="Plans: what a code or subscription entitles to.", no_args_is_help=True
)
codes_app = typer.Typer(
    help="Activation codes: issue batches, block, look up.", no_args_is_help=True
)
keys_app = typer.Typer(help="Key material: the public key apps pin.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts: customers, support agents, admins.", no_args_is_help=True)
orders_app = typer.Typer(help="Orders: back-office entry of a sale.", no_args_is_help=True)
partners_app = typer.Typer(
    help="Partners (resellers): contacts, API keys, code allocations.", no_args_is_help=True
)
partner_keys_app = typer.Typer(help="A partner's keys for the partner API.", no_args_is_help=True)
partners_app.add_typer(partner_keys_app, name="keys")
app.add_typer(plans_app, name="plans")
app.add_typer(orders_app, name="orders")
app.add_typer(partners_app, name="partners")
app.add_typer(codes_app, name="codes")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
audit_app = typer.Typer(
    help="The audit trail: append-only, hash-chained; check it.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")

# Soft wrap: messages name paths and codes, which a terminal may fold but a pipe must
# receive whole (Rich would break lines at 80 columns when the output is not a terminal).
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@contextmanager
def _context() -> Iterator[tuple[Settings, Database, Keyring]]:
    """Settings, database and keys for one command; errors become a message and exit 1."""
    from licensor.migrate import schema_problem

    settings = get_settings()
    configure_logging(settings)  # to stderr, at LICENSOR_LOG_LEVEL: stdout is the command's
    if problem := schema_problem(settings):
        errors.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(1)
    database = Database(settings)
    try:
        keyring = load_keyring(settings)
        database.use_keyring(keyring)
        yield settings, database, keyring
    except FormInvalid as error:
        for field, message in error.fields.items():
            errors.print(f"[red]error:[/red] --{field.replace('_', '-')}: {field_message(message)}")
        raise typer.Exit(1) from None
    except LicensorError as error:
        errors.print(f"[red]error:[/red] {error.detail} [dim]({error.code})[/dim]")
        raise typer.Exit(1) from None
    except KeyMaterialError as error:
        errors.print(f"[red]key material:[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()


@contextmanager
def _unit() -> Iterator[UnitOfWork]:
    """One command's unit of work: its services by name, in one transaction, its audit
    rows by the vendor's user at the shell."""
    with (
        _context() as (settings, database, keyring),
        open_unit(database, keyring, settings, clock.now(), actor=_actor()) as unit,
    ):
        yield unit


# --- server ---------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Web processes.")] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(help="Reverse proxies whose X-Forwarded-For is trusted (comma list)."),
    ] = None,
) -> None:
    """Serve the API and pages."""
    import uvicorn

    from licensor.migrate import schema_problem

    settings = get_settings()
    if problem := schema_problem(settings):
        errors.print(f"[red]error:[/red] {problem}")
        raise typer.Exit(1)
    load_keyring(settings)  # create the embedded keys once, before workers race for them
    uvicorn.run(
        "licensor.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from licensor.migrate import current, upgrade

    settings = get_settings()
    upgrade(settings)
    console.print(f"database at revision [bold]{current(settings)}[/bold]")


@app.command()
def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve afterwards.")
    ] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Migrate, add demo data (idempotent), say what to try, and serve."""
    from licensor.demo import seed
    from licensor.mail import dev_mailbox
    from licensor.migrate import upgrade

    # The demo's server and worker show mail in the dev mailbox (an explicit development
    # setting, read by both from the environment), on a loopback listener only.
    os.environ["LICENSOR_DEV_MAILBOX"] = "true"
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(settings)
    with _context() as (settings, database, keyring):
        guide = seed(database, keyring, settings, base_url=f"http://{host}:{port}")
    console.print(guide, soft_wrap=True, highlight=False)
    off = dev_mailbox.why_not(settings)
    if off is not None:
        console.print(f"The dev mailbox is off: {off}.", highlight=False)
    elif not dev_mailbox.loopback(host):
        # Each request must reach a loopback address: on a wildcard listener, only this
        # machine's own requests to 127.0.0.1 do.
        local = f" except at http://127.0.0.1:{port}/dev/mail" if host in ("0.0.0.0", "::") else ""
        console.print(
            f"The dev mailbox is off{local}: --host {host} is not a loopback address.",
            highlight=False,
        )
    if serve_after:
        import subprocess
        import sys

        # The demo's worker, beside the server: it reads the key from support screenshots,
        # renews subscriptions, and marks dev-mailbox mail as sent. It ends with the demo.
        worker_process = subprocess.Popen(
            [sys.executable, "-c", "from licensor.cli import main; main()", "worker"]
        )
        try:
            serve(host=host, port=port, workers=1, forwarded_allow_ips=None)
        finally:
            worker_process.terminate()
            worker_process.wait(timeout=10)


# --- plans ----------------------------------------------------------------------------


@plans_app.command("create")
def plans_create(
    code: Annotated[str, typer.Option(help="Short code, e.g. standard.")],
    name: Annotated[str, typer.Option(help="Name shown to customers.")],
    term_days: Annotated[int, typer.Option(min=1, help="Term in days, from first activation.")],
    devices: Annotated[int, typer.Option(min=1, help="How many devices at once.")],
    entitlement: Annotated[
        list[str] | None, typer.Option(help="An entitlement (repeatable).")
    ] = None,
    price: Annotated[
        str | None, typer.Option(help="Price of a code in the store, e.g. 29.99 (none: not sold).")
    ] = None,
    subscription_price: Annotated[
        str | None, typer.Option(help="Price of a subscription per term (none: not sold).")
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 currency of the prices.")] = "EUR",
) -> None:
    """Create a plan."""
    from licensor.licensing.service import parse_price

    with _unit() as unit:
        plan = unit.licensing.create_plan(
            code=code,
            name=name,
            term_days=term_days,
            devices_max=devices,
            entitlements=entitlement,
            price_cents=parse_price(price),
            subscription_price_cents=parse_price(subscription_price),
            currency=currency,
        )
        console.print(
            f"plan [bold]{plan.code}[/bold] ({plan.name}): {plan.term_days} days, "
            f"{plan.devices_max} device(s)"
        )


@plans_app.command("list")
def plans_list() -> None:
    """List the plans."""

    with _unit() as unit:
        table = Table("code", "name", "term (days)", "devices", "entitlements")
        for plan in unit.licensing.plans():
            table.add_row(
                plan.code,
                plan.name,
                str(plan.term_days),
                str(plan.devices_max),
                ", ".join(plan.entitlements or []),
            )
        console.print(table)


# --- orders and partners ----------------------------------------------------------------


@orders_app.command("create")
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
    with _unit() as unit:
        store = unit.store
        if codes and partner is not None:
            placed = store.record_sale_of_codes(
                partner_slug=partner,
                codes=codes,
                email=email,
                name=name,
                plan_code=plan,
                language=language,
                actor=_actor(),
            )
        else:
            assert plan is not None
            placed = store.create_order(
                plan_code=plan,
                email=email,
                name=name,
                quantity=quantity or 1,
                partner_slug=partner,
                language=language,
                actor=_actor(),
            )
            waiting = store.unsold_allocated(partner, plan) if partner else 0
    if waiting:
        # New codes were issued; the partner's own cards stay unsold until named.
        errors.print(
            f"note: {partner} holds {waiting} unsold code(s) of plan {plan} in its "
            "allocation; to record the sale of one it sold, name it with --code"
        )
    if as_json:
        print(json.dumps(placed.as_json()))
        return
    console.print(
        f"order [bold]{placed.number}[/bold] ({placed.purchased_at:%Y-%m-%d %H:%M} UTC), "
        + (f"sold by {placed.partner}" if placed.partner else "our store")
        + f": {len(placed.codes)} code(s)"
    )
    for code in placed.codes:
        console.print(f"  {code}", highlight=False)
    if placed.partner is None:
        console.print(f"confirmation mail queued for {placed.email}")


@partners_app.command("create")
def partners_create(
    slug: Annotated[str, typer.Option(help="Short name used in commands, e.g. shop-milano.")],
    name: Annotated[str, typer.Option(help="Name shown to customers.")],
    email: Annotated[str, typer.Option(help="Where customers write for help.")],
    url: Annotated[str, typer.Option(help="The partner's website.")],
    phone: Annotated[str, typer.Option(help="A phone number for customers.")] = "",
) -> None:
    """Add a partner; customers who bought from it are sent to these contact details."""

    with _unit() as unit:
        partner = unit.store.create_partner(
            slug=slug, name=name, email=email, url=url, phone=phone, actor=_actor()
        )
        console.print(f"partner [bold]{partner.slug}[/bold] ({partner.name}) created")


@partners_app.command("list")
def partners_list() -> None:
    """List the partners."""

    with _unit() as unit:
        table = Table("slug", "name", "email", "url", "phone")
        for partner in unit.store.partners():
            table.add_row(partner.slug, partner.name, partner.email, partner.url, partner.phone)
        console.print(table)


@partner_keys_app.command("create")
def partner_keys_create(
    slug: Annotated[str, typer.Argument(help="The partner's slug.")],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Make a key for the partner API. It is shown once: give it to the partner."""

    with _unit() as unit:
        store = unit.store
        key = store.create_api_key(store.partner(slug), label=label, actor=_actor())
    print(key)
    errors.print("Shown once: only a hash is kept. Revoke with `licensor partners keys revoke`.")


@partner_keys_app.command("list")
def partner_keys_list(slug: Annotated[str, typer.Argument(help="The partner's slug.")]) -> None:
    """List a partner's keys (their prefixes; the keys themselves are not kept)."""

    with _unit() as unit:
        store = unit.store
        table = Table("prefix", "label", "created", "last used", "revoked")
        for key in store.api_keys(store.partner(slug)):
            table.add_row(
                key.prefix,
                key.label,
                f"{key.created_at:%Y-%m-%d}",
                f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "",
                f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
            )
        console.print(table)


@partner_keys_app.command("revoke")
def partner_keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (or the whole key).")],
) -> None:
    """Revoke a partner API key at once."""

    with _unit() as unit:
        key = unit.store.revoke_api_key(prefix, actor=_actor())
        console.print(f"key {key.prefix} revoked")


# --- codes ----------------------------------------------------------------------------


@codes_app.command("issue")
def codes_issue(
    plan: Annotated[str, typer.Option(help="Plan code.")],
    count: Annotated[int, typer.Option(min=1, help="How many codes.")],
    out: Annotated[Path, typer.Option(help="CSV for the card printer.", dir_okay=False)],
    label: Annotated[str, typer.Option(help="A label for the batch.")] = "",
    partner: Annotated[
        str | None, typer.Option(help="Allocate the batch to this partner (its slug).")
    ] = None,
    sold_at_till: Annotated[
        bool,
        typer.Option(
            "--sold-at-till",
            help="Cards activate only once the till records each sale (docs/partners.md).",
        ),
    ] = False,
) -> None:
    """Issue a batch of printed-card codes into a CSV (first column activation_code);
    with --partner, the batch is that partner's allocation. A partner's codes, and with
    --sold-at-till any card, activate only once their sale is recorded."""
    from licensor.licensing.batches import issue_codes

    columns = (
        TextColumn("[bold]issuing[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with _unit() as unit:  # say "unknown plan" before any bar
        unit.licensing.plan(plan)
        if partner is not None:
            unit.store.partner(partner)
    with _context() as (settings, database, keyring):
        with Progress(*columns, console=errors) as bar:
            task = bar.add_task("codes", total=count)
            batch = issue_codes(
                database,
                keyring,
                settings,
                plan_code=plan,
                count=count,
                out=out,
                label=label,
                partner_slug=partner,
                sold_at_till=sold_at_till,
                actor=_actor(),
                progress=lambda n: bar.advance(task, n),
            )
    console.print(f"batch {batch.batch_id}: {batch.count:,} {batch.plan} codes written to {out}")
    if partner is not None or sold_at_till:
        console.print(
            "these codes activate once their sale is recorded "
            "(partner API, or `licensor orders create --partner SLUG --code CODE`)"
        )


@codes_app.command("block")
def codes_block(
    code: Annotated[str, typer.Argument(help="The activation code.")],
    reason: Annotated[str, typer.Option(help="Why: refund, fraud, leaked, grey market…")],
) -> None:
    """Block a code (and its license): it no longer activates or validates."""

    with _unit() as unit:
        blocked = unit.licensing.block_code(code, reason=reason, actor=_actor())
        masked = formats.mask_code(formats.normalize_code(code))
        console.print(f"blocked {masked} (code #{blocked.id}): {reason}")


@codes_app.command("show")
def codes_show(
    secret: Annotated[str, typer.Argument(help="An activation code or a license key.")],
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show the code and key in full (audited).")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why the code is revealed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Look up a code or license key: plan, state, license, devices."""
    from licensor.licensing.lookup import lookup

    with _unit() as unit:
        report = lookup(
            unit,
            secret,
            reveal=reveal,
            actor=_actor(),
            reason=reason,
        )
        if as_json:
            console.print_json(json.dumps(report))
        else:
            _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for field in (
        "activation_code",
        "plan",
        "state",
        "origin",
        "batch",
        "created_at",
        "blocked_reason",
        "license_key",
        "public_id",
        "starts_at",
        "expires_at",
        "devices",
    ):
        value = report.get(field)
        if value is not None:
            table.add_row(f"[bold]{field.replace('_', ' ')}[/bold]", str(value))
    console.print(table)
    seats = report.get("activations") or []
    if seats:
        seat_table = Table("device", "platform", "activated", "released")
        for seat in seats:
            seat_table.add_row(
                seat["device"], seat["platform"], seat["activated_at"], seat["released_at"] or "—"
            )
        console.print(seat_table)


# --- users ----------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Email address (sign-in name).")],
    role: Annotated[str, typer.Option(help="customer, agent or admin.")] = "customer",
    totp_secret: Annotated[
        str | None, typer.Option(help="Enrol two-factor with this base32 secret.")
    ] = None,
    language: Annotated[str, typer.Option(help="en or it.")] = "en",
) -> None:
    """Create an account that can sign in at once (password from LICENSOR_PASSWORD or a prompt)."""
    from licensor.errors import FormInvalid

    password = os.environ.get("LICENSOR_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    with _context() as (settings, database, keyring):
        try:
            with open_unit(database, keyring, settings, clock.now(), actor=_actor()) as unit:
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


# --- mail -----------------------------------------------------------------------------


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Send what is due, then exit.")] = False,
    batch: Annotated[int, typer.Option(min=1, help="Messages claimed at a time.")] = 50,
    idle_seconds: Annotated[float, typer.Option(help="Pause when nothing is due.")] = 2.0,
) -> None:
    """Send the outbox over SMTP (LICENSOR_SMTP_URL; unset, mail waits in the outbox, or
    under `licensor demo` is marked as shown in the dev mailbox), and renew subscriptions
    through the payment provider (each minute); do the background jobs (the license key
    read from support screenshots, docs/adr/0004)."""
    import signal
    import threading
    from datetime import timedelta

    from licensor import idempotency, jobs
    from licensor.mail import dev_mailbox
    from licensor.mail import worker as mail_worker
    from licensor.mail.sender import DevMailbox, Sender, SmtpSender
    from licensor.store.payments import PaymentSetupError, load_provider
    from licensor.store.tasks import PeriodicRenewals

    with _context() as (settings, database, keyring):
        # Without SMTP, mail is marked sent only where the dev mailbox shows it (demo).
        sender: Sender | None = None
        if settings.smtp_url:
            sender = SmtpSender(settings.smtp_url, keyring, settings.mail_from)
        elif dev_mailbox.mounted(settings):
            sender = DevMailbox()
        try:
            provider = load_provider(settings, keyring, clock)
        except PaymentSetupError as error:
            errors.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1) from None
        renewals = PeriodicRenewals(database, keyring, settings, clock.now, provider)
        lease = timedelta(seconds=settings.mail_lease_seconds)

        def background_jobs() -> int:
            return jobs.run_once(database, keyring, settings, clock.now)

        forget_keys = idempotency.PeriodicPurge(database, clock.now)
        if once:
            run = renewals()
            done = background_jobs()
            forget_keys()
            sent = (
                mail_worker.run_once(database, sender, clock.now, batch=batch, lease=lease)
                if sender is not None
                else 0
            )
            if run is not None:
                console.print(
                    f"{run.renewed} renewed, {run.past_due} past due, {run.expired} expired"
                )
            console.print(f"{done} background job(s) run")
            console.print(f"{sent} message(s) sent")
            if sender is None:
                console.print(mail_worker.OUTBOX_ONLY_HINT)
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        mail_worker.run_forever(
            database,
            sender,
            clock.now,
            stop,
            idle_seconds=idle_seconds,
            batch=batch,
            lease=lease,
            periodic=[renewals, background_jobs, forget_keys],
        )


# --- audit ----------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    witness: Annotated[
        Path | None,
        typer.Option(
            help="Where the head seen at the last verification is kept (default: "
            "LICENSOR_VAR_DIR/audit-witness.json); keep it off the database's host.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Walk the audit trail's hash chain: find edited rows, deleted rows (also the newest),
    rows written outside the chain, a head rolled back since the last verification. Exit 0
    when intact (and the witness is brought up to date), 1 when not."""
    from licensor.audit import verify
    from licensor.files import write_private

    with _context() as (settings, database, _keyring):
        witness = witness or settings.var_dir / "audit-witness.json"
        seen = _read_witness(witness)
        with database.transaction() as session:
            found = verify(session, database.audit_key, witness=seen)
        if found.intact:
            write_private(
                witness,
                json.dumps({"seq": found.head_seq, "last_hash": found.head_hash.hex()}).encode(),
            )
    if as_json:
        print(
            json.dumps(
                {
                    "intact": found.intact,
                    "chained": found.chained,
                    "head": found.head_seq,
                    "legacy": found.legacy,
                    "problems": found.problems,
                }
            )
        )
    elif found.intact:
        console.print(
            f"[green]audit trail intact[/green]: {found.chained} row(s) chained, "
            f"the head at {found.head_seq}"
            + (f"; {found.legacy} older row(s) from before the chain" if found.legacy else "")
        )
    else:
        for problem in found.problems:
            errors.print(f"[red]tampered:[/red] {problem}")
        errors.print(f"{found.chained} row(s) chained, the head at {found.head_seq}")
    if not found.intact:
        raise typer.Exit(1)


def _read_witness(path: Path) -> Any:
    from licensor.audit import Witness

    if not path.exists():
        return None
    try:
        seen = json.loads(path.read_text())
        return Witness(int(seen["seq"]), bytes.fromhex(seen["last_hash"]))
    except (ValueError, KeyError, TypeError):
        errors.print(f"[red]error:[/red] {path} is not an audit witness")
        raise typer.Exit(1) from None


# --- keys -----------------------------------------------------------------------------


@keys_app.command("show")
def keys_show() -> None:
    """Print the public signing keys to pin in the app (base64url, raw Ed25519)."""
    with _context() as (_settings, _database, keyring):
        console.print_json(
            json.dumps(
                {
                    "algorithm": "Ed25519",
                    "current": keyring.signing_key_id,
                    "keys": keyring.public_keys_b64(),
                }
            )
        )


def main() -> None:
    app()
