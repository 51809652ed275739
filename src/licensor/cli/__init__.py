"""The ``licensor`` command: what a vendor runs to serve, migrate and manage licensing.

Each noun has a module of its own (``licensor plans`` in ``plans.py``, …); the commands
that run the server and the worker are in ``server.py``; ``shell.py`` holds what they share.
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from licensor.cli import (
    audit,
    backup,
    codes,
    keys,
    licenses,
    orders,
    partners,
    plans,
    report,
    server,
    users,
    webhooks,
)

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
app.add_typer(licenses.app, name="licenses")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(audit.app, name="audit")
app.add_typer(report.app, name="report")
app.add_typer(webhooks.app, name="webhooks")
for command in (server.serve, server.migrate, server.demo, server.worker):
    app.command()(command)
app.command()(backup.backup)
app.command()(backup.restore)


def main() -> None:
    """Run the ``licensor`` command (the console script)."""
    try:
        app()
    except ValidationError as error:
        # Settings are read inside each command; a bad LICENSOR_* value would otherwise
        # end in pydantic's multi-line report inside a traceback.
        print(f"configuration: {settings_problems(error)}", file=sys.stderr)
        sys.exit(2)


def settings_problems(error: ValidationError) -> str:
    """Each bad setting by its variable's name, what is wrong and the value given."""
    problems = []
    for problem in error.errors():
        if not problem["loc"]:  # a check across settings (the brand's) names its own
            problems.append(str(problem["msg"]).removeprefix("Value error, "))
            continue
        name = "LICENSOR_" + "_".join(str(part) for part in problem["loc"]).upper()
        given = problem.get("input")
        shown = f" (given {given!r})" if isinstance(given, str | int | float) else ""
        problems.append(f"{name}: {problem['msg']}{shown}")
    return "; ".join(problems)
