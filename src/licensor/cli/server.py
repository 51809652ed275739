"""The commands that run Licensor: ``serve``, ``migrate``, ``demo`` and ``worker``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from licensor.cli.shell import command_context, console, errors
from licensor.clock import clock
from licensor.config import get_settings
from licensor.keys import load_keyring


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


def migrate() -> None:
    """Bring the database schema up to date."""
    from licensor.migrate import current, upgrade

    settings = get_settings()
    upgrade(settings)
    console.print(f"database at revision [bold]{current(settings)}[/bold]")


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
    with command_context() as (settings, database, keyring):
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

    with command_context() as (settings, database, keyring):
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
