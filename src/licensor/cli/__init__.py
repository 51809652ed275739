"""The ``licensor`` command: what a vendor runs to serve, migrate and manage licensing.

Each noun has a module of its own (``licensor plans`` in ``plans.py``, …); the commands
that run the server and the worker are in ``server.py``; ``shell.py`` holds what they share.
"""

from __future__ import annotations

import typer

from licensor.cli import audit, backup, codes, keys, orders, partners, plans, server, users

app = typer.Typer(
    name="licensor",
    help="Licensor: license server, codes and plans for vendors of desktop software.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(plans.app, name="plans")
app.add_typer(orders.app, name="orders")
app.add_typer(partners.app, name="partners")
app.add_typer(codes.app, name="codes")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(audit.app, name="audit")
for command in (server.serve, server.migrate, server.demo, server.worker):
    app.command()(command)
app.command()(backup.backup)
app.command()(backup.restore)


def main() -> None:
    """Run the ``licensor`` command (the console script)."""
    app()
