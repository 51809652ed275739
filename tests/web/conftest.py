"""A real headless Chromium (Debian's package) driven by Playwright, for page tests; and
what a visitor does on every kind of page (``sign_in``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    configured = os.environ.get("LICENSOR_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Per module, not per session: while Playwright's sync API runs, its event loop counts as
# running in this thread, and the app's Textual pilot tests (anyio on asyncio) could not
# start theirs in the same pytest process. A module's end stops it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.fail("Chromium is not installed (Debian package chromium; .ci/run installs it)")
    browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    with _page(browser, server, locale="en-GB") as page:
        yield page


@pytest.fixture
def italian_page(browser: Browser, server: str) -> Iterator[Page]:
    """A browser set to Italian: it sends ``Accept-Language: it-IT``."""
    with _page(browser, server, locale="it-IT") as page:
        yield page


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in on the sign-in page, as a visitor types it."""
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_italian(page: Page, email: str, password: str) -> None:
    """Sign in on the sign-in page as shown in Italian (``italian_page``)."""
    page.goto("/sign-in")
    page.get_by_label("Indirizzo email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.locator("main").get_by_role("button", name="Accedi", exact=True).click()


@contextmanager
def _page(browser: Browser, server: str, *, locale: str) -> Iterator[Page]:
    """A tab of a fresh browser context (its own cookies) on the test server."""
    context = browser.new_context(base_url=server, locale=locale)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
