"""The dev mailbox exists only for ``licensor demo``: never on a server as ``licensor serve``
runs it, never behind an https base URL, never to a request that reached a listener that
is not loopback. Without SMTP, mail waits in the outbox, and the worker leaves it there.

The attack it closes (issue 11, item 1): with SMTP unset, reset a support agent's password,
read the reset link at /dev/mail, choose a password, enrol one's own TOTP, open the desk.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import select

from licensor.api import create_app
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import OutboxMessage
from tests.accounts.factories import TOTP_SECRET, Customer, MakeAccount, OpenBrowser, outbox
from tests.cli_support import cli_environment, run
from tests.support import serve


def _agent(make_account: MakeAccount) -> Customer:
    return make_account("agent@example.com", roles=("agent",), totp_secret=TOTP_SECRET)


def _ask_for_a_reset(browser_at: OpenBrowser, url: str, agent: Customer) -> None:
    visitor = browser_at(url)
    asked = visitor.post("/reset-password", {"email": agent.email}, token=visitor.csrf_token())
    assert asked.status_code == 200, asked.text


def _reset_mail(database: Database, agent: Customer) -> OutboxMessage:
    (message,) = outbox(database, agent.email, "reset_password")
    return message


def test_a_server_as_licensor_serve_runs_it_keeps_the_reset_mail_out_of_reach(
    server: str,
    api: httpx.Client,
    settings: Settings,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    # As `licensor serve` runs without SMTP: the dev mailbox setting is off by default.
    assert settings.smtp_url is None
    assert not settings.dev_mailbox
    agent = _agent(make_account)

    _ask_for_a_reset(form_browser, server, agent)

    message = _reset_mail(database, agent)
    for path in ("/dev/mail", f"/dev/mail/{message.id}", "/dev/mail/1"):
        assert api.get(path).status_code == 404, path
    assert "/dev/mail" not in api.get("/").text  # and no page links to it
    assert _reset_mail(database, agent).sent_at is None  # still waiting for SMTP


def test_the_dev_mailbox_is_off_behind_an_https_base_url(
    server: str,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    https = settings.model_copy(
        update={"dev_mailbox": True, "base_url": "https://licensor.example"}
    )
    agent = _agent(make_account)
    # Asked on the plain test server: behind an https base URL, cookies are Secure.
    _ask_for_a_reset(form_browser, server, agent)
    message = _reset_mail(database, agent)
    with serve(create_app(https, database=database, keyring=keyring)) as url:
        with httpx.Client(base_url=url) as client:
            answers = [client.get("/dev/mail"), client.get(f"/dev/mail/{message.id}")]

    assert [answer.status_code for answer in answers] == [404, 404]


def test_the_dev_mailbox_answers_only_requests_that_reached_a_loopback_listener(
    settings: Settings,
    database: Database,
    keyring: Keyring,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    demo = settings.model_copy(update={"dev_mailbox": True})
    app = create_app(demo, database=database, keyring=keyring)
    agent = _agent(make_account)
    with serve(app) as url:
        _ask_for_a_reset(form_browser, url, agent)
    message = _reset_mail(database, agent)

    async def fetch(listener: str) -> list[httpx.Response]:
        # The ASGI scope's "server" is the listening socket's address: the URL's here.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=listener) as client:
            return [
                await client.get("/dev/mail"),
                await client.get(f"/dev/mail/{message.id}"),
                await client.get("/"),
            ]

    public = asyncio.run(fetch("http://10.1.2.3:8000"))
    loopback = asyncio.run(fetch("http://127.0.0.1:8000"))

    assert [answer.status_code for answer in public[:2]] == [404, 404]
    assert "/dev/mail" not in public[2].text
    assert [answer.status_code for answer in loopback[:2]] == [200, 200]
    assert "/dev/mail" in loopback[2].text


def test_the_dev_mailbox_is_not_shown_through_a_proxy_or_to_another_address(
    settings: Settings, database: Database, keyring: Keyring
) -> None:
    """``licensor demo`` behind a proxy on the same machine: every visitor's connection
    comes from loopback, to a loopback listener; the proxy's headers give it away."""
    app = create_app(
        settings.model_copy(update={"dev_mailbox": True}), database=database, keyring=keyring
    )

    async def fetch(client: tuple[str, int], headers: dict[str, str]) -> int:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as web:
            return (await web.get("/dev/mail", headers=headers)).status_code

    here = ("127.0.0.1", 50000)
    assert asyncio.run(fetch(here, {})) == 200
    for headers in (
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"X-Real-IP": "203.0.113.9"},
    ):
        assert asyncio.run(fetch(here, headers)) == 404, headers
    assert asyncio.run(fetch(("203.0.113.9", 50000), {})) == 404


def test_under_the_demo_setting_the_mailbox_shows_mail_on_loopback(
    settings: Settings,
    database: Database,
    keyring: Keyring,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    demo = settings.model_copy(update={"dev_mailbox": True})
    agent = _agent(make_account)
    with serve(create_app(demo, database=database, keyring=keyring)) as url:
        _ask_for_a_reset(form_browser, url, agent)
        message = _reset_mail(database, agent)
        with httpx.Client(base_url=url) as client:
            listing = client.get("/dev/mail")
            shown = client.get(f"/dev/mail/{message.id}")
            past_64_bits = client.get(f"/dev/mail/{2**64}")

    assert listing.status_code == 200
    assert agent.email in listing.text
    assert shown.status_code == 200
    assert "/reset-password/choose?token=" in shown.text
    assert past_64_bits.status_code == 404


def _worker(var_dir: Path, settings: Settings, **variables: str) -> str:
    environment = cli_environment(var_dir, settings.resolved_database_url)
    environment.update(variables)
    done = run("licensor", "worker", "--once", environment=environment, cwd=var_dir)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_worker_without_smtp_sends_nothing_and_marks_nothing_sent(
    server: str,
    var_dir: Path,
    settings: Settings,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    agent = _agent(make_account)
    _ask_for_a_reset(form_browser, server, agent)

    output = _worker(var_dir, settings)

    assert "0 messages sent" in output
    assert "LICENSOR_SMTP_URL is unset" in output
    with database.transaction() as session:
        waiting = session.scalars(select(OutboxMessage)).all()
        assert waiting
        assert all(message.sent_at is None and message.attempts == 0 for message in waiting)

    # Under the demo's setting, the worker marks them as shown in the dev mailbox.
    demo_output = _worker(var_dir, settings, LICENSOR_DEV_MAILBOX="true")
    assert (
        "1 message sent" if len(waiting) == 1 else f"{len(waiting)} messages sent"
    ) in demo_output
    assert _reset_mail(database, agent).sent_at is not None


def test_licensor_demo_on_a_non_loopback_host_says_its_mailbox_is_off_there(
    tmp_path: Path,
) -> None:
    environment = cli_environment(tmp_path, f"sqlite:///{tmp_path / 'demo.db'}")

    wildcard = run(
        "licensor", "demo", "--no-serve", "--host", "0.0.0.0", environment=environment, cwd=tmp_path
    )
    loopback = run("licensor", "demo", "--no-serve", environment=environment, cwd=tmp_path)

    assert wildcard.returncode == 0, wildcard.stderr
    said = " ".join(wildcard.stdout.split())
    assert "The dev mailbox is off except at http://127.0.0.1:8000/dev/mail" in said
    assert "--host 0.0.0.0 is not a loopback address" in said
    assert loopback.returncode == 0, loopback.stderr
    assert "dev mailbox is off" not in loopback.stdout
