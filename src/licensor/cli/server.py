"""The commands that run Licensor: ``serve``, ``migrate``, ``demo`` and ``worker``."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from licensor.cli.shell import command_context, console, errors, refuse_unwritable_var
from licensor.clock import clock
from licensor.config import Settings, get_settings
from licensor.dates import plural
from licensor.db import Database
from licensor.errors import PaymentSetupError
from licensor.keys import Keyring
from licensor.logging import configure_logging, uvicorn_log_config
from licensor.mail.delivery import BATCH as MAIL_BATCH
from licensor.mail.delivery import OUTBOX_ONLY_HINT

if TYPE_CHECKING:
    from licensor.worker import Worker


def _base_url_from_listener(host: str, port: int) -> None:
    """Unset, the base URL is the address the server listens on, port included: links in
    mail, the client's messages and the checkout's return must reach this server. Set in
    the environment before the settings are read, so uvicorn's processes and the worker
    beside the demo read it too."""
    if "base_url" in get_settings().model_fields_set:
        return
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # an IPv6 address in a URL
    os.environ["LICENSOR_BASE_URL"] = f"http://{shown}:{port}"
    get_settings.cache_clear()


SQLITE_ONE_PROCESS = (
    "error: --workers {workers} needs PostgreSQL: SQLite lets one process write at a time, "
    "so more processes only queue for its lock; serve with --workers 1, or set "
    "LICENSOR_DATABASE_URL to a PostgreSQL database for more processes"
)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Web processes.")] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(help="Reverse proxies whose X-Forwarded-For is trusted (comma list)."),
    ] = None,
) -> None:
    """Serve the API and pages."""
    import uvicorn

    from licensor.postgres import budget_problem
    from licensor.store.payments import setup_problem as payment_setup_problem

    _base_url_from_listener(host, port)
    settings = get_settings()
    if workers > 1 and settings.resolved_database_url.startswith("sqlite"):
        # SQLite lets one process write at a time: a second one only waits for the lock
        # (activation p99 1.3-1.6 s with two processes against 0.3-0.7 s with one).
        errors.print(SQLITE_ONE_PROCESS.format(workers=workers), highlight=False)
        raise typer.Exit(1)
    # var/ writable, the schema current, the embedded keys made once (before workers race
    # for them) and the keys those that made the database (keychecks.py): else one line.
    with command_context():
        pass
    if problem := budget_problem(settings, workers):  # processes x pool within the server's
        errors.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(1)
    if problem := payment_setup_problem(settings):  # a provider's secret missing, say
        errors.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(1)
    configure_logging(settings)
    if workers > 1:
        # Each process writes its figures to files there, and /metrics in any of them
        # reads them all (licensor/metrics.py); set before uvicorn starts the processes.
        from licensor.metrics import MULTIPROCESS_DIR, multiprocess_directory

        os.environ[MULTIPROCESS_DIR] = str(multiprocess_directory(settings.var_dir))
    uvicorn.run(
        "licensor.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=False,  # the edge logs each request, with its id (docs/logging.md)
        log_config=uvicorn_log_config(settings),
        log_level=settings.log_level.lower(),
    )


def migrate() -> None:
    """Bring the database schema up to date (and read into it the screenshots an older
    version kept in var/attachments)."""
    from licensor.errors import UnknownRevision
    from licensor.migrate import current, import_attachment_files, upgrade

    settings = get_settings()
    refuse_unwritable_var(settings)
    try:
        upgrade(settings)
    except UnknownRevision as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"database at revision [bold]{current(settings)}[/bold]")
    # Screenshots an older version kept on this host's disk move into the database.
    imported = import_attachment_files(settings)
    if imported.found:
        console.print(imported.summary(), highlight=False)


def demo(
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve afterwards.")
    ] = True,
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Migrate, add demo data (idempotent), say what to try, and serve."""
    from licensor.demo import seed
    from licensor.mail import dev_mailbox
    from licensor.migrate import upgrade

    # The demo's server and worker show mail in the dev mailbox (an explicit development
    # setting, read by both from the environment), on a loopback listener only.
    os.environ["LICENSOR_DEV_MAILBOX"] = "true"
    get_settings.cache_clear()
    _base_url_from_listener(host, port)
    settings = get_settings()
    refuse_unwritable_var(settings)
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
        # The demo's worker runs in a thread beside the server (screenshots read,
        # renewals, dev-mailbox mail marked sent), so it cannot outlive it.
        with command_context() as (settings, database, keyring):
            background = _configured_worker(database, keyring, settings)
            with _terminated_unwinds(), background.running(idle_seconds=2.0):
                serve(host=host, port=port, workers=1, forwarded_allow_ips=None)


class _Terminated(BaseException):
    """SIGTERM, raised where the process is, so every ``finally`` runs."""


@contextmanager
def _terminated_unwinds() -> Iterator[None]:
    """Let SIGTERM unwind the stack as Ctrl-C does (the server, which took both signals
    while it ran, raises them again once stopped), so the worker thread stops and is
    waited for; then end the process as terminated, as it would have been."""

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _configured_worker(
    database: Database, keyring: Keyring, settings: Settings, *, mail_batch: int = MAIL_BATCH
) -> Worker:
    from licensor.worker import configured_worker

    try:
        return configured_worker(database, keyring, settings, clock, mail_batch=mail_batch)
    except PaymentSetupError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None


def worker(
    once: Annotated[bool, typer.Option("--once", help="Send what is due, then exit.")] = False,
    batch: Annotated[int, typer.Option(min=1, help="Messages claimed at a time.")] = MAIL_BATCH,
    idle_seconds: Annotated[
        float, typer.Option(min=0.1, max=3600, help="Pause when nothing is due.")
    ] = 2.0,
) -> None:
    """Send the outbox over SMTP (LICENSOR_SMTP_URL; unset, mail waits in the outbox, or
    under `licensor demo` is marked as shown in the dev mailbox), and renew subscriptions
    through the payment provider (each minute); do the background jobs (the license key
    read from support screenshots, docs/adr/0004)."""
    with command_context() as (settings, database, keyring):
        background = _configured_worker(database, keyring, settings, mail_batch=batch)
        if once:
            done = background.run_until_idle()
            if done.renewals is not None:
                run = done.renewals
                console.print(
                    f"{run.renewed} renewed, {run.past_due} past due, {run.expired} expired"
                )
            console.print(
                plural(
                    done.jobs,
                    "en",
                    one="{count} background job run",
                    other="{count} background jobs run",
                )
            )
            console.print(
                plural(done.sent, "en", one="{count} message sent", other="{count} messages sent")
            )
            if background.sender is None:
                console.print(OUTBOX_ONLY_HINT)
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        background.run_forever(stop, idle_seconds=idle_seconds)
