"""Licensor through PgBouncer in transaction pooling mode (issue 13, item 3), as
docs/database.md sets it up: ``LICENSOR_DATABASE_PGBOUNCER=on``. Each transaction may run
on another server connection, and PgBouncer (Debian's 1.18) refuses startup options, so
Licensor prepares no statements and sends no options. A server, the CLI and the worker
run through it: activations and validations at once (more clients than PgBouncer has
server connections), a web sign-in, an order whose confirmation the worker mails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from licensor.config import Settings
from tests.accounts.factories import Browser, MakeAccount, fresh_email
from tests.cli_support import cli_environment, one_line, run, serving
from tests.licensing.factories import MakeCode, activate, device
from tests.mail_support import SmtpServer
from tests.operations.servers import PgBouncer, licensor_command
from tests.support import free_port

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]


@pytest.fixture(scope="module")
def bouncer_environment(settings: Settings, database: object) -> Iterator[dict[str, str]]:
    """The CLI's environment on the suite's database, through PgBouncer."""
    suite = make_url(settings.database_url)
    assert suite.host is not None
    assert suite.port is not None
    bouncer = PgBouncer(suite.host, suite.port, pool_size=2)
    try:
        through = suite.set(host="127.0.0.1", port=bouncer.port)
        environment = cli_environment(
            settings.var_dir, through.render_as_string(hide_password=False)
        )
        environment["LICENSOR_DATABASE_PGBOUNCER"] = "on"
        yield environment
    finally:
        bouncer.stop()


@pytest.fixture(scope="module")
def bounced(
    bouncer_environment: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("bounced")
    with serving(bouncer_environment, workdir, free_port()) as url:
        yield url


def test_a_server_works_through_pgbouncer_in_transaction_mode(
    bounced: str, make_code: MakeCode, make_account: MakeAccount
) -> None:
    with httpx.Client(base_url=bounced, timeout=30) as api:
        machines = [device() for _ in range(6)]
        codes = [make_code() for _ in machines]
        with ThreadPoolExecutor(max_workers=6) as pool:
            held = list(pool.map(activate, [api] * len(codes), codes, machines))

            def validate(index: int) -> httpx.Response:
                machine = machines[index % len(machines)]
                return api.post(
                    "/api/v1/licenses/validate",
                    json={
                        "license_key": held[index % len(held)]["license_key"],
                        "fingerprint": machine["fingerprint"],
                    },
                )

            answers = list(pool.map(validate, range(60)))

    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json()["valid"] is True

    customer = make_account()
    browser = Browser(bounced)
    try:
        browser.sign_in(customer)
        assert browser.signed_in()
    finally:
        browser.close()


def test_the_cli_and_the_worker_work_through_pgbouncer(
    bouncer_environment: dict[str, str], make_code: MakeCode, tmp_path: Path
) -> None:
    make_code()  # the plan "plus"
    email = fresh_email()
    sold = licensor_command(
        bouncer_environment,
        tmp_path,
        *("orders", "create", "--plan", "plus", "--email", email),
        *("--name", "Ada Lovelace", "--json"),
    )
    order = json.loads(sold)
    smtp = SmtpServer()
    smtp.start()
    try:
        sending = {**bouncer_environment, "LICENSOR_SMTP_URL": smtp.url}
        output = licensor_command(sending, tmp_path, "worker", "--once")
        message = smtp.inbox.to(email)
    finally:
        smtp.stop()

    assert "1 message sent" in output
    assert order["number"] in str(message["Subject"]) + message.as_string()


def test_without_the_setting_a_command_through_pgbouncer_says_why_in_one_line(
    bouncer_environment: dict[str, str], make_code: MakeCode, tmp_path: Path
) -> None:
    make_code()  # the plan "plus"
    direct = {**bouncer_environment, "LICENSOR_DATABASE_PGBOUNCER": "off"}

    refused = run(
        "licensor",
        *("orders", "create", "--plan", "plus", "--email", fresh_email(), "--name", "Ada"),
        environment=direct,
        cwd=tmp_path,
    )

    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "the database is unavailable" in refused.stderr
    assert "unsupported startup parameter: options" in one_line(refused.stderr)
