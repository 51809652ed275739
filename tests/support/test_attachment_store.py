"""Where screenshots live: in the database, which every host shares (issue 13, item 1).

A screenshot posted to one server is shown by another server process with a var/ of its
own, and read by a worker with yet another; a request that fails after the upload leaves
no contents; pages that list screenshots never read their bytes; and the files an older
version kept in var/attachments are read in by ``licensor migrate``."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, select, text

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import Attachment, AttachmentContent
from tests.accounts.factories import TOTP_SECRET, Browser, MakeAccount, OpenBrowser, fresh_email
from tests.cli_support import cli_environment, one_line, run, serving
from tests.support import free_port
from tests.support.factories import SignInStaff, sign_in_with_two_factor
from tests.support.uploads import (
    REQUEST_NUMBER,
    card_request,
    counts,
    follow_link,
    license_details_png,
    picture,
    send,
)

IMAGE_LINK = re.compile(r'href="([^"]*/attachments/\d+)"')


def host_environment(settings: Settings, var_dir: Path) -> dict[str, str]:
    """Another host's ``licensor``: the same database and keys, a var/ of its own."""
    environment = cli_environment(var_dir, settings.database_url)
    environment["LICENSOR_KEYS_DIR"] = str(settings.resolved_keys_dir)
    environment["LICENSOR_CREATE_KEYS"] = "false"
    return environment


@pytest.fixture(scope="module")
def other_host(
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    database: Database,
    keyring: Keyring,
) -> Iterator[str]:
    """``licensor serve`` in a process of its own, with a var/ of its own."""
    home = tmp_path_factory.mktemp("other-host")
    with serving(host_environment(settings, home / "var"), home, free_port()) as url:
        yield url


def post_screenshot(visitor: Browser, png: bytes) -> str:
    email = fresh_email()
    response = send(visitor, card_request(email), [("details.png", png, "image/png")])
    assert response.status_code == 200, response.text
    return email


def test_a_screenshot_posted_to_one_server_is_shown_by_another_and_read_by_a_third_hosts_worker(
    visitor: Browser,
    form_browser: OpenBrowser,
    other_host: str,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    tmp_path: Path,
) -> None:
    key, png = license_details_png(tmp_path)
    email = post_screenshot(visitor, png)
    link = follow_link(database, keyring, email)

    elsewhere = form_browser(other_host)
    page = elsewhere.get(link)
    assert page.status_code == 200, page.text
    [image_link] = IMAGE_LINK.findall(page.text)
    image = elsewhere.get(image_link)
    assert image.status_code == 200, image.text
    assert image.headers["content-type"] == "image/png"
    assert image.content == visitor.get(image_link).content  # as the first server shows it

    worker_home = tmp_path / "worker-host"
    worker_home.mkdir()
    worked = run(
        "licensor",
        "worker",
        "--once",
        environment=host_environment(settings, worker_home / "var"),
        cwd=worker_home,
    )
    assert worked.returncode == 0, worked.stderr
    assert "1 background job run" in worked.stdout

    agent = make_account(fresh_email("agent"), roles=("agent",), totp_secret=TOTP_SECRET)
    desk = form_browser(other_host)
    sign_in_with_two_factor(desk, agent, clock)
    [number] = set(REQUEST_NUMBER.findall(page.text))
    request_page = desk.get(f"/desk/requests/{number}")
    assert request_page.status_code == 200
    [read] = re.findall(r'<code class="license-key">([^<]*)</code>', request_page.text)
    assert re.sub(r"[^0-9A-F]", "", read) == key
    assert '<strong class="verified">' in request_page.text
    assert not (settings.var_dir / "attachments").exists()  # no host keeps them on disk


@pytest.fixture
def jobs_refused(database: Database) -> Iterator[None]:
    """Every insert into ``jobs`` fails: the support form's request fails after its
    screenshot is stored (the read-key job is written after it)."""
    if database.engine.dialect.name == "postgresql":
        statements = [
            "CREATE FUNCTION test_refuse_jobs() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'jobs refused by the test'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER test_refuse_jobs BEFORE INSERT ON jobs "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse_jobs()",
        ]
        undo = ["DROP TRIGGER test_refuse_jobs ON jobs", "DROP FUNCTION test_refuse_jobs()"]
    else:
        statements = [
            "CREATE TRIGGER test_refuse_jobs BEFORE INSERT ON jobs "
            "BEGIN SELECT RAISE(ABORT, 'jobs refused by the test'); END"
        ]
        undo = ["DROP TRIGGER test_refuse_jobs"]
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    try:
        yield
    finally:
        with database.engine.begin() as connection:
            for statement in undo:
                connection.execute(text(statement))


def test_a_request_that_fails_after_the_upload_leaves_no_contents(
    visitor: Browser, database: Database, settings: Settings, jobs_refused: None, tmp_path: Path
) -> None:
    _, png = license_details_png(tmp_path)

    response = send(visitor, card_request(fresh_email()), [("details.png", png, "image/png")])

    assert response.status_code == 500
    assert counts(database) == {
        "support_requests": 0,
        "support_messages": 0,
        "support_attachments": 0,
        "attachment_contents": 0,
        "jobs": 0,
    }
    assert not (settings.var_dir / "attachments").exists()


def test_pages_that_list_screenshots_do_not_read_their_bytes(
    visitor: Browser,
    sign_in_staff: SignInStaff,
    database: Database,
    keyring: Keyring,
) -> None:
    email = post_screenshot(visitor, picture("PNG", (300, 200)))
    link = follow_link(database, keyring, email)
    agent, _ = sign_in_staff()
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        page = visitor.get(link)
        [number] = set(REQUEST_NUMBER.findall(page.text))
        desk_page = agent.get(f"/desk/requests/{number}")
        listed = list(statements)
        [image_link] = IMAGE_LINK.findall(page.text)
        image = visitor.get(image_link)
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)

    assert (page.status_code, desk_page.status_code, image.status_code) == (200, 200, 200)
    assert not [sql for sql in listed if "attachment_contents" in sql]
    assert [sql for sql in statements[len(listed) :] if "attachment_contents" in sql]


def test_screenshots_an_older_version_kept_on_disk_are_read_in_by_migrate(
    visitor: Browser, database: Database, keyring: Keyring, settings: Settings, tmp_path: Path
) -> None:
    email = fresh_email()
    files = [(f"shot{n}.png", picture("PNG", (100 + n, 80)), "image/png") for n in range(2)]
    assert send(visitor, card_request(email), files).status_code == 200
    page = visitor.get(follow_link(database, keyring, email)).text
    image_links = IMAGE_LINK.findall(page)
    shown = [visitor.get(image_link).content for image_link in image_links]
    # As an older version left them: each ciphertext in var/attachments under its storage
    # name, nothing in attachment_contents; and a file no row names (a request that
    # rolled back while its process was killed).
    old_host = tmp_path / "old-host"
    directory = old_host / "var" / "attachments"
    directory.mkdir(parents=True)
    with database.transaction() as session:
        rows = session.execute(
            select(Attachment.storage_name, AttachmentContent.ciphertext).join(
                AttachmentContent, AttachmentContent.attachment_id == Attachment.id
            )
        ).all()
        session.execute(delete(AttachmentContent))
    for storage_name, ciphertext in rows:
        (directory / storage_name).write_bytes(ciphertext)
    unclaimed = directory / secrets.token_hex(16)
    unclaimed.write_bytes(b"never committed")
    assert visitor.get(image_links[0]).status_code == 404
    environment = host_environment(settings, old_host / "var")

    migrated = run("licensor", "migrate", environment=environment, cwd=old_host)

    assert migrated.returncode == 0, migrated.stderr
    assert (
        f"2 screenshot files from {directory} read into the database and removed; "
        "1 named by no attachment left there"
    ) in one_line(migrated.stdout)
    assert [path.name for path in directory.iterdir()] == [unclaimed.name]
    assert [visitor.get(image_link).content for image_link in image_links] == shown

    # A run stopped after its commit, before removing a file: the next only removes it.
    storage_name, ciphertext = rows[0]
    (directory / storage_name).write_bytes(ciphertext)
    unclaimed.unlink()
    again = run("licensor", "migrate", environment=environment, cwd=old_host)
    assert again.returncode == 0, again.stderr
    assert f"1 screenshot file from {directory} read into the database and removed" in (
        one_line(again.stdout)
    )
    assert not directory.exists()
    assert counts(database)["attachment_contents"] == 2
    assert [visitor.get(image_link).content for image_link in image_links] == shown
