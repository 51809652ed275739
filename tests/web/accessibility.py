"""axe-core in Chromium over a site: a crawler that checks every page it reaches at a
phone's width and a laptop's, and the forms' error states that no link reaches.

axe-core comes from npm through scripts/fetch_axe.py (``make test`` fetches it first); a
missing script fails the test rather than skipping it, so a checkout without it cannot
pass by checking nothing.
"""

from __future__ import annotations

import importlib.util
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urldefrag, urlsplit

import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

ROOT = Path(__file__).resolve().parents[2]
# The WCAG 2.1 success criteria at levels A and AA, as axe-core tags its rules.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = {390: 844, 1280: 800}  # width: height, a phone's and a laptop's
# Links a crawl does not follow: signing out, the JSON API and its docs, static files, the
# demo's mailbox, and anything downloaded rather than shown.
NOT_PAGES = re.compile(
    r"^/(sign-out|api/|api$|static/|dev/mail)|/attachments/|/download|\.(pdf|csv|png|svg|zip|json|txt)$"
)
# The language switch (``?lang=it``) changes the visitor's language for every later page;
# a crawl stays in the language it started in.
SWITCHES = {"lang"}
# Query-string variants of one path (filters, pages of a list) checked at most: the same
# template, and a desk queue with filters would otherwise be walked in every combination.
VARIANTS_PER_PATH = 3


def fetch_axe_module() -> ModuleType:
    """scripts/fetch_axe.py, imported from the checkout (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("fetch_axe", ROOT / "scripts" / "fetch_axe.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def axe_script() -> Path:
    """The cached axe.min.js; a failure (never a skip) that says how to get it."""
    path: Path = fetch_axe_module().AXE_JS
    if not path.exists():
        pytest.fail(
            f"axe-core is missing ({path}): `make test` fetches it, or run "
            "`.venv/bin/python scripts/fetch_axe.py`",
            pytrace=False,
        )
    return path


@contextmanager
def visitor(
    browser: Browser, origin: str, script: Path, *, locale: str = "en-GB"
) -> Iterator[Audit]:
    """A visitor of its own (a browser context: its own cookies and language) with axe in
    every page."""
    # An init script is handed to the browser once and run in each new document; adding a
    # script tag per page sent all 650 kB over the wire again for every page.
    context = browser.new_context(base_url=origin, locale=locale)
    context.add_init_script(path=script)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield Audit(page, origin, script)
    finally:
        context.close()


@dataclass(frozen=True)
class Violation:
    page: str
    width: int
    rule: str
    impact: str
    help: str
    target: str
    html: str

    def __str__(self) -> str:
        return (
            f"{self.page} at {self.width} px: {self.rule} ({self.impact}) {self.help}\n"
            f"    {self.target}: {self.html}"
        )


@dataclass
class Audit:
    """What one visitor's crawl found: the pages checked and the violations on them."""

    page: Page
    origin: str
    script: Path
    checked: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _variants: Counter[str] = field(default_factory=Counter)

    def check(self, label: str) -> None:
        """Run axe on the page as it is now, at each width (the same document, resized:
        a form's error state is not lost to a reload)."""
        self.checked.append(label)
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.add_script_tag(path=str(self.script))
        for width, height in WIDTHS.items():
            self.page.set_viewport_size({"width": width, "height": height})
            results: dict[str, Any] = self.page.evaluate(
                """tags => axe.run(document, {
                    runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']
                })""",
                WCAG_21_AA,
            )
            for rule in results["violations"]:
                for node in rule["nodes"]:
                    self.violations.append(
                        Violation(
                            page=label,
                            width=width,
                            rule=rule["id"],
                            impact=str(rule.get("impact")),
                            help=rule["help"],
                            target=" ".join(str(part) for part in node["target"]),
                            html=node["html"][:200],
                        )
                    )

    def visit(self, path: str) -> bool:
        """Open ``path`` and check it; False when it is no page (a download, not HTML)."""
        try:
            response = self.page.goto(path)
        except PlaywrightError as error:
            if "Download is starting" in str(error):
                return False
            raise
        if response is None or "text/html" not in response.headers.get("content-type", ""):
            return False
        if response.status >= 500:
            self.broken.append(f"{path}: {response.status}")
        self._seen.add(self._relative(self.page.url))
        self.check(self._relative(self.page.url))
        return True

    def crawl(self, starts: Iterable[str], *, skip: re.Pattern[str] | None = None) -> None:
        """Check every page reached from ``starts`` by same-origin links, breadth first;
        but pages whose path ``skip`` matches (checked by another visitor's crawl)."""
        queue = deque(self._relative(start) for start in starts)
        while queue:
            path = queue.popleft()
            key = self._relative(path)
            if key in self._seen or not self._worth_following(path):
                continue
            if skip is not None and skip.search(urlsplit(path).path):
                continue
            self._seen.add(key)
            if urlsplit(path).query:
                self._variants[urlsplit(path).path] += 1
            if not self.visit(path):
                continue
            hrefs: list[str] = self.page.eval_on_selector_all(
                "a[href]", "links => links.map(link => link.href)"
            )
            queue.extend(self._relative(href) for href in hrefs if href.startswith(self.origin))

    def submit(self, path: str, form: str, fields: Mapping[str, str] | None = None) -> None:
        """Open ``path``, fill the ``form`` (a CSS selector) by field names and send it as
        it is, past the browser's own checks, so that the server's answer (an error
        state, the next step) is what gets checked."""
        self.page.goto(path)
        self.submit_here(form, fields)

    def submit_here(self, form: str, fields: Mapping[str, str] | None = None) -> None:
        """Fill and send a form of the page already open; check the page it leads to."""
        target = self.page.locator(form).first
        for name, value in (fields or {}).items():
            target.locator(f'[name="{name}"]').fill(value)
        with self.page.expect_navigation():
            target.evaluate("form => { form.noValidate = true; form.requestSubmit(); }")
        self.page.wait_for_load_state()
        self.check(f"{self._relative(self.page.url)} (after sending {form})")

    def report(self) -> str:
        lines = [f"{len(self.violations)} axe violations on {len(self.checked)} pages:"]
        lines += [str(violation) for violation in self.violations]
        lines += [f"server error: {broken}" for broken in self.broken]
        return "\n".join(lines)

    def _relative(self, url: str) -> str:
        url = urldefrag(url).url
        if not url.startswith(self.origin):
            return url
        return url[len(self.origin) :] or "/"

    def _worth_following(self, path: str) -> bool:
        parts = urlsplit(path)
        if NOT_PAGES.search(parts.path):
            return False
        if any(name in SWITCHES for name, _ in parse_qsl(parts.query)):
            return False
        return not parts.query or self._variants[parts.path] < VARIANTS_PER_PATH
