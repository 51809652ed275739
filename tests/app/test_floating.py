"""A floating license in the reference app (issue 16, item 2): the app holds a seat while
it runs and says until when in the Licensing window, gives it back on exit, and says
when to try again when every seat is taken."""

from __future__ import annotations

import pytest

from licensor_app.floating import FloatingSeat
from tests.app.conftest import MakeMachine
from tests.app.screens import SIZE, activate, click, open_licensing, settle, shown, text
from tests.licensing.factories import MakeCode, MakeFloating

pytestmark = pytest.mark.anyio


async def test_the_app_holds_a_seat_while_it_runs_and_gives_it_back_on_exit(
    machine: MakeMachine, floating_code: MakeFloating
) -> None:
    code = floating_code("studio", leases=1, lease_seconds=900)

    async with machine("first").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
        await settle(pilot)
        assert text(pilot, "#lease").startswith("Floating license: seat held until ")
    # On exit the first machine checked in: the second takes the one seat.
    async with machine("second").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
        await settle(pilot)
        assert text(pilot, "#lease").startswith("Floating license: seat held until ")

        async with machine("first").run_test(size=SIZE) as again:
            await open_licensing(again)
            await settle(again)
            assert text(again, "#lease").startswith("All 1 seats are in use; try again after ")
            assert text(again, "#status") == "No seat held now"
            assert text(again, "#why-not-valid").startswith("This app holds no seat")
            await click(again, "#close")

        async with machine("third").run_test(size=SIZE) as third:
            await open_licensing(third)
            refused = await activate(third, code)
            assert refused.startswith(
                "Every seat of this license is in use on other computers right now. Try again "
                "after "
            )


async def test_a_license_that_counts_devices_shows_no_seat_line(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code("desk"))
        await settle(pilot)
        assert not shown(pilot, "#lease")
        seat = pilot.app.floating  # type: ignore[attr-defined]
        assert isinstance(seat, FloatingSeat)
        assert seat.lease is None
