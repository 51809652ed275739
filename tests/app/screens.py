"""Driving the reference app the way a customer does, for the app's tests and for other
domains' tests: the support desk reads the License details screenshot this saves
(``save_details_screenshot``).

Waiting is deterministic: ``settle`` returns once every SDK call started so far has
finished in its thread and the window has shown the outcome (the connect poll, which
runs until the code is entered, excepted: ``wait_for_connection``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from licensor_app import LicensorApp
from licensor_app.windows.account import POLL_GROUP
from licensor_app.windows.details import LicenseDetailsWindow

#: Columns and rows of the test terminal: every window fits without scrolling.
SIZE = (110, 56)


def new_app(server: str, home: Path, *, name: str = "laptop", language: str = "en") -> LicensorApp:
    """An app on a simulated computer kept under ``home``: its state directory, a
    fingerprint of its own (as ``LICENSOR_FINGERPRINT`` would give) and a Pictures folder."""
    return LicensorApp(
        server,
        state_dir=home / "state",
        fingerprint=f"app-test-{name}-0123456789",
        language=language,
        screenshot_dir=home / "Pictures",
    )


# --- waiting and reading ------------------------------------------------------------------------


async def settle(pilot: Pilot[None]) -> None:
    """Until no SDK call is running (but the connect poll) and the UI has caught up."""
    while True:
        await pilot.pause()
        busy = [
            worker
            for worker in pilot.app.workers
            if not worker.is_finished and worker.group != POLL_GROUP
        ]
        if not busy:
            return
        await pilot.app.workers.wait_for_complete(busy)


async def wait_for_connection(pilot: Pilot[None]) -> None:
    """Until the connect poll has stopped (connected, expired or refused)."""
    polls = [worker for worker in pilot.app.workers if worker.group == POLL_GROUP]
    if polls:
        await pilot.app.workers.wait_for_complete(polls)
    await settle(pilot)


async def click(pilot: Pilot[None], selector: str) -> None:
    """Click a button of the current window, then wait for what it started."""
    button = pilot.app.screen.query_one(selector, Button)
    assert button.display, f"{selector} is not shown"
    while button.has_class("-active"):  # a button ignores clicks while it shows the last one
        await pilot.pause(0.05)
    await pilot.click(selector)
    await settle(pilot)


def fill(pilot: Pilot[None], selector: str, value: str) -> None:
    pilot.app.screen.query_one(selector, Input).value = value


def text(pilot: Pilot[None], selector: str) -> str:
    """The text of a ``Static`` in the current window."""
    return str(pilot.app.screen.query_one(selector, Static).content)


def message(pilot: Pilot[None]) -> str:
    """The current window's message line; empty when it is hidden."""
    line = pilot.app.screen.query_one("#message", Static)
    return str(line.content) if line.display else ""


def label(pilot: Pilot[None], selector: str) -> str:
    return str(pilot.app.screen.query_one(selector, Button).label)


def shown(pilot: Pilot[None], selector: str) -> bool:
    return bool(pilot.app.screen.query_one(selector).display)


def window(pilot: Pilot[None]) -> str:
    """The current window's title."""
    return text(pilot, "#window-title")


# --- flows --------------------------------------------------------------------------------------


async def open_licensing(pilot: Pilot[None]) -> None:
    """From the main window, the **License** link."""
    await settle(pilot)
    await click(pilot, "#license")


async def activate(pilot: Pilot[None], activation_code: str) -> str:
    """In the Licensing window: Enter activation code, type it, Activate. The message the
    Licensing window shows after (or the refusal in the activation window, left open)."""
    await click(pilot, "#enter-code")
    fill(pilot, "#activation-code", activation_code)
    await click(pilot, "#activate")
    return message(pilot)


async def save_screenshot(pilot: Pilot[None]) -> Path:
    """In the License details window: Save screenshot; the path it names."""
    await click(pilot, "#save-screenshot")
    details = pilot.app.screen
    assert isinstance(details, LicenseDetailsWindow), message(pilot)
    path = details.saved_path
    assert path is not None, message(pilot)
    assert path.is_file(), message(pilot)
    assert str(path) in message(pilot)
    return path


@dataclass(frozen=True)
class SavedScreenshot:
    path: Path
    license_key: str  # 32 hexadecimal digits, as the window shows them without spaces
    public_id: str
    plan: str
    expires_at: datetime | None


async def _save_details_screenshot(
    server: str, activation_code: str, home: Path, language: str
) -> SavedScreenshot:
    app = new_app(server, home, name=home.name, language=language)
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, activation_code)
        await click(pilot, "#show-details")
        path = await save_screenshot(pilot)
        return SavedScreenshot(
            path,
            text(pilot, "#license-key").replace(" ", ""),
            text(pilot, "#public-id"),
            text(pilot, "#plan"),
            app.client.details().expires_at,
        )


def save_details_screenshot(
    server: str, activation_code: str, directory: Path, *, language: str = "en"
) -> SavedScreenshot:
    """Activate ``activation_code`` in the app on a computer of its own under ``directory``,
    open License details and press Save screenshot, as a customer does before writing to
    support (seed 002). The PNG, and what the window showed.

    For synchronous tests (it runs its own event loop), e.g. the support desk's::

        shot = save_details_screenshot(server, make_code(), tmp_path / "customer")
        form.attach(shot.path)
    """
    return asyncio.run(_save_details_screenshot(server, activation_code, directory, language))
