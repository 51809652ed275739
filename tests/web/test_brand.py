"""The vendor's brand (docs/brand.md): its name, logo and colour reach every page's title,
header, icons and buttons, and the mail the workers send; a colour white text cannot be
read on is refused when Licensor starts, in one line.

A server of this module's own runs with the brand (the session's test server has none),
on the same database; settings beat the brand file, which gives the logo alone here.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from licensor.api import create_app
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.sender import SmtpSender
from licensor.ratelimit import MemoryRateLimiter
from licensor.worker import build_worker
from tests.accounts.factories import Browser as FormBrowser
from tests.accounts.factories import MakeAccount
from tests.cli_support import console_script
from tests.mail_support import SmtpServer, text_of
from tests.support import free_port, serve

NAME = "Acme Shield"
COLOR = "#5a2d82"  # 9.6:1 with white
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40">'
    b'<circle cx="20" cy="20" r="18" fill="#5a2d82"/></svg>\n'
)


@pytest.fixture(scope="module")
def brand_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A brand file with every key; the settings below beat its name and colour."""
    folder = tmp_path_factory.mktemp("brand")
    (folder / "acme-logo.svg").write_bytes(LOGO)
    path = folder / "brand.toml"
    path.write_text('name = "From The File"\ncolor = "#0f5132"\nlogo = "acme-logo.svg"\n')
    return path


@pytest.fixture(scope="module")
def brand_settings(settings: Settings, brand_file: Path) -> Settings:
    values = settings.model_dump(exclude={"product_name", "mail_from", "base_url"})
    values.update(
        brand_file=brand_file,
        brand_name=NAME,
        brand_color=COLOR,
        mail_from="no-reply@acme.example",  # no name of its own: the brand's is used
        base_url=f"http://127.0.0.1:{free_port()}",
    )
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def branded(
    brand_settings: Settings,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    limiter: MemoryRateLimiter,
) -> Iterator[str]:
    app = create_app(
        brand_settings, database=database, keyring=keyring, limiter=limiter, app_clock=clock
    )
    port = int(brand_settings.base_url.rsplit(":", 1)[1])
    with serve(app, port=port) as url:
        yield url


def test_settings_beat_the_brand_file_which_gives_what_they_leave_out(
    brand_settings: Settings, brand_file: Path
) -> None:
    assert brand_settings.product_name == NAME
    assert brand_settings.brand_color == COLOR
    assert brand_settings.brand_logo == (brand_file.parent / "acme-logo.svg").resolve()
    assert brand_settings.mail_from == f"{NAME} <no-reply@acme.example>"


def test_the_page_carries_the_brand_in_its_title_header_icons_and_buttons(
    browser: Browser, branded: str
) -> None:
    context = browser.new_context(base_url=branded, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto("/sign-in")
    expect(page).to_have_title(f"Sign in · {NAME}")
    header = page.get_by_role("banner")
    brand_link = header.get_by_role("link", name=NAME, exact=True)
    expect(brand_link).to_be_visible()
    logo = brand_link.locator("img")
    expect(logo).to_have_attribute("src", re.compile(r"^/brand/logo\?v=\w+$"))
    assert logo.evaluate("image => image.naturalWidth") > 0  # the SVG was served and drawn
    description = page.locator('meta[name="description"]')
    expect(description).to_have_attribute("content", re.compile(re.escape(NAME)))
    icons = page.locator('link[rel="icon"]')
    expect(icons).to_have_count(2)
    button = page.locator("main").get_by_role("button", name="Sign in")
    background = button.evaluate("element => getComputedStyle(element).backgroundColor")
    assert background == "rgb(90, 45, 130)"
    context.close()


def test_the_logo_and_icons_are_served_at_fixed_addresses(branded: str, server: str) -> None:
    with httpx.Client(base_url=branded) as client:
        logo = client.get("/brand/logo")
        assert logo.headers["content-type"] == "image/svg+xml"
        assert logo.content == LOGO
        assert client.get("/favicon.svg").content == LOGO  # an SVG logo is the icon too
        icon = client.get("/favicon.ico")
        assert icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
        assert f"--accent: {COLOR}" in client.get("/brand.css").text
    with httpx.Client(base_url=server) as client:  # no brand: Licensor's own
        assert client.get("/brand/logo").status_code == 404
        assert "#0b5cad" in client.get("/favicon.svg").text
        assert client.get("/favicon.ico").content[:4] == b"\x00\x00\x01\x00"


def test_a_mail_says_the_brand_in_its_sender_colours_and_signature(
    branded: str,
    brand_settings: Settings,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
    clock: Clock,
    smtp: SmtpServer,
) -> None:
    customer = make_account()
    visitor = FormBrowser(branded)
    try:
        visitor.post("/reset-password", {"email": customer.email})
    finally:
        visitor.close()
    sender = SmtpSender(smtp.url, keyring, brand_settings.mail_from, timeout=10)
    worker = build_worker(database, keyring, brand_settings, clock.now, sender=sender)
    with worker.running(idle_seconds=0.1):
        mail = smtp.inbox.to(customer.email)
    assert mail["From"] == f"{NAME} <no-reply@acme.example>"
    text = text_of(mail).replace("\r\n", "\n")
    assert text.rstrip().endswith(f"-- \nThe {NAME} team")
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert f"border-top: 4px solid {COLOR}" in html
    assert f"The {NAME} team" in html


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"LICENSOR_BRAND_COLOR": "#ffcc00"}, "LICENSOR_BRAND_COLOR #ffcc00"),
        ({"LICENSOR_BRAND_COLOR": "orange"}, "LICENSOR_BRAND_COLOR must be a colour as #rrggbb"),
        ({"LICENSOR_BRAND_FILE": "BRAND_FILE"}, "LICENSOR_BRAND_FILE"),
    ],
)
def test_a_colour_white_text_cannot_be_read_on_is_refused_at_start_in_one_line(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    light = tmp_path / "light.toml"
    light.write_text('color = "#9ad0ff"\n')
    environment = {
        **os.environ,
        "LICENSOR_VAR_DIR": str(tmp_path / "var"),
        **{
            name: str(light) if value == "BRAND_FILE" else value
            for name, value in variables.items()
        },
    }
    environment.pop("LICENSOR_DATABASE_URL", None)
    done = subprocess.run(
        [str(console_script("licensor")), "serve", "--port", str(free_port())],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("configuration: ")
    assert named in lines[0]
    if "#rrggbb" not in named:
        assert "4.5:1" in lines[0]
