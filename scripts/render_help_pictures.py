"""Render the pictures of the help articles from the reference app itself: each window a
customer is sent to, in English and Italian, as Textual exports its screen (SVG), into
``src/licensor/web/static/help/``.

    .venv/bin/python scripts/render_help_pictures.py           # write them
    .venv/bin/python scripts/render_help_pictures.py --check   # exit 1 if any is stale

The app runs under ``App.run_test()`` at a fixed size with one made-up license (a fixed
key, plan and dates) and no server, so the same code gives the same bytes; a test renders
them again and fails when the committed files differ (tests/web/test_help_pictures.py).
Change a window, run this, commit the pictures with the change.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, Input

from licensor_app import LicensorApp
from licensor_client import LicenseClient, LicenseInfo

ROOT = Path(__file__).resolve().parent.parent
PICTURES = ROOT / "src" / "licensor" / "web" / "static" / "help"
LANGUAGES = ("en", "it")
#: Columns of the terminal: narrow enough that a phone scaling a picture to its width
#: keeps the text legible, wide enough that no window scrolls. Rows are per picture.
COLUMNS = 72
PRODUCT = "Licensor Demo"
#: An account address a customer would recognise as "the vendor's site".
SERVER = "https://account.example.com"
#: The license every picture shows: made up, but well formed (the key's check digits are
#: right, as support's screenshot reader checks them).
LICENSE = LicenseInfo(
    license_key="8F3A2C9D41B07E65D2C8A19F03A035D3",
    public_id="LIC-7K3M-9QXT",
    plan="plus",
    plan_name="Plus",
    status="active",
    valid=True,
    expires_at=datetime(2027, 3, 14, 9, 30, tzinfo=UTC),
    devices_used=2,
    devices_max=3,
    valid_until=datetime(2027, 3, 14, 9, 30, tzinfo=UTC),
    source="online",
    checked_at=datetime(2026, 3, 14, 9, 30, tzinfo=UTC),
    has_code=True,
)


class PictureClient(LicenseClient):
    """The SDK as the pictures need it: the one license above, and no network."""

    def has_license(self) -> bool:
        return True

    def status(self) -> LicenseInfo:
        return LICENSE

    def details(self) -> LicenseInfo:
        return LICENSE


Steps = Callable[[Pilot[None]], Awaitable[None]]


async def settled(pilot: Pilot[None]) -> None:
    """Until every SDK call the windows started has finished and the screen shows it."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot: Pilot[None], button: str) -> None:
    """Press a button of the window on top once it has settled, as a customer would."""
    await settled(pilot)
    pilot.app.screen.query_one(button, Button).press()
    await settled(pilot)


async def main_window(pilot: Pilot[None]) -> None:
    await settled(pilot)


async def licensing(pilot: Pilot[None]) -> None:
    await press(pilot, "#license")


async def enter_code(pilot: Pilot[None]) -> None:
    await licensing(pilot)
    await press(pilot, "#enter-code")


async def license_details(pilot: Pilot[None]) -> None:
    await licensing(pilot)
    await press(pilot, "#show-details")


async def connect(pilot: Pilot[None]) -> None:
    await licensing(pilot)
    await press(pilot, "#recover")


@dataclass(frozen=True)
class Picture:
    name: str  # the file is ``{name}-{language}.svg``
    steps: Steps
    rows: int  # as many as the window takes, in both languages


#: The windows the articles show, reached the way a customer reaches them.
WINDOWS = (
    Picture("main-window", main_window, rows=8),
    Picture("licensing", licensing, rows=22),
    Picture("enter-code", enter_code, rows=16),
    Picture("license-details", license_details, rows=19),
    Picture("connect", connect, rows=24),
)

# Rich names the SVG's classes and clip paths "terminal-<checksum of the content>"; named
# after the picture instead, a change to one window changes one file by its text only.
_GENERATED_ID = re.compile(r"terminal-\d+")
# Rich points the SVG at a web font on a CDN: a page of ours fetches nothing from a third
# party, and an SVG shown as an image loads nothing anyway. The local font, else the
# browser's monospace, draws it (every character is placed by its own x, so columns hold).
_WEB_FONT = re.compile(r',\s*url\("https://[^"]*"\)\s*format\("[^"]*"\)')


def normalised(svg: str, name: str) -> str:
    """The SVG with nothing in it that differs between two renderings of the same screen."""
    return _WEB_FONT.sub("", _GENERATED_ID.sub(f"help-{name}", svg))


async def render(picture: Picture, language: str) -> str:
    """One window in one language, as an SVG."""
    with tempfile.TemporaryDirectory() as home:
        app = LicensorApp(
            SERVER,
            state_dir=Path(home) / "state",
            fingerprint="help-pictures-0123456789",
            language=language,
            screenshot_dir=home,
            product=PRODUCT,
        )
        app.client = PictureClient(SERVER, state_dir=Path(home) / "state")
        async with app.run_test(size=(COLUMNS, picture.rows)) as pilot:
            await picture.steps(pilot)
            for field in app.screen.query(Input):
                field.cursor_blink = False  # a blinking cursor is in the picture or not
            await pilot.pause()
            cut = [w for w in [app.screen, *app.screen.query("*")] if w.show_vertical_scrollbar]
            if cut:  # the picture would show part of the window
                raise ValueError(
                    f"{picture.name} ({language}) scrolls in {picture.rows} rows: {cut}"
                )
            svg = app.export_screenshot(title=PRODUCT)
    return normalised(svg, f"{picture.name}-{language}")


def path_of(picture: Picture, language: str) -> Path:
    return PICTURES / f"{picture.name}-{language}.svg"


async def render_all() -> dict[Path, str]:
    """Every picture in every language: its path and its SVG."""
    return {
        path_of(picture, language): await render(picture, language)
        for picture in WINDOWS
        for language in LANGUAGES
    }


def stale(rendered: dict[Path, str]) -> list[Path]:
    """The pictures whose file is missing or differs from ``rendered``."""
    return [
        path
        for path, svg in rendered.items()
        if not path.exists() or path.read_text(encoding="utf-8") != svg
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report stale pictures, write none")
    arguments = parser.parse_args()
    rendered = asyncio.run(render_all())
    if arguments.check:
        for path in stale(rendered):
            print(f"stale: {path.relative_to(ROOT)}")
        return 1 if stale(rendered) else 0
    PICTURES.mkdir(parents=True, exist_ok=True)
    for path, svg in rendered.items():
        path.write_text(svg, encoding="utf-8")
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
