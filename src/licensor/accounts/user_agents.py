"""A browser's User-Agent header as the security page and the new-sign-in mail name it:
"Firefox 133 on Windows". Only the browsers and systems people sign in with are told
apart; anything else is named by what can be read of it, or not at all. The header is
the browser's own claim, so it is shown, never trusted.

Order matters: Edge, Opera and Samsung Internet also say "Chrome", and Chrome says
"Safari"; iPhones and iPads say "like Mac OS X", Android says "Linux".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\b(?:OPR|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS|HeadlessChrome|Chromium)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
)
_SYSTEMS = (
    ("iPadOS", re.compile(r"\biPad\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
)


@dataclass(frozen=True)
class Browser:
    name: str | None  # "Chrome"; None when the header names no browser we know
    version: str | None  # the major version, "131"
    system: str | None  # "Windows"

    @property
    def known(self) -> bool:
        return self.name is not None or self.system is not None


def parse(user_agent: str) -> Browser:
    """The browser, its major version and the operating system a User-Agent names."""
    name = version = None
    for candidate, pattern in _BROWSERS:
        if match := pattern.search(user_agent):
            name, version = candidate, match.group(1)
            break
    system = next((label for label, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    return Browser(name, version, system)
