"""Reserve codes in the reference app: with an active license, the activation window
offers "Add as reserve code", and the Licensing window then shows when the reserve starts
and the extended end."""

from __future__ import annotations

from datetime import timedelta

import pytest

from licensor_app.i18n import format_date
from tests.app.conftest import MakeMachine
from tests.app.screens import SIZE, activate, click, fill, message, open_licensing, shown, text
from tests.licensing.factories import MakeCode

pytestmark = pytest.mark.anyio


async def test_a_second_code_is_added_as_reserve_and_the_window_shows_its_start(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        assert await activate(pilot, make_code("plus")) == "The license is active on this device."
        assert not shown(pilot, "#reserve")
        first_end = app.client.details().expires_at
        assert first_end is not None

        await click(pilot, "#enter-code")
        assert shown(pilot, "#add-reserve")
        fill(pilot, "#activation-code", make_code("plus"))
        await click(pilot, "#add-reserve")

        assert message(pilot) == "The reserve code was added."
        assert shown(pilot, "#reserve")
        assert text(pilot, "#reserve") == f"starts on {format_date(first_end, 'en')}"
        assert text(pilot, "#expires") == format_date(first_end + timedelta(days=365), "en")


async def test_without_a_license_no_reserve_is_offered(machine: MakeMachine) -> None:
    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await click(pilot, "#enter-code")
        assert not shown(pilot, "#add-reserve")
