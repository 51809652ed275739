"""The main window's features (issue 16, item 1): what the plan lacks is greyed out with a
line naming it; nothing opens without an active license."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Button

from licensor.licensing import formats
from licensor.models import CodeOrigin
from tests.app.conftest import MakeMachine
from tests.app.screens import SIZE, activate, click, message, open_licensing, settle, text
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan

pytestmark = pytest.mark.anyio


def enabled(pilot: Pilot[None], feature: str) -> bool:
    return not pilot.app.screen.query_one(f"#feature-{feature}", Button).disabled


async def test_what_the_plan_lacks_is_greyed_out_with_a_line_naming_it(
    machine: MakeMachine, make_plan: MakePlan, open_unit: OpenUnit
) -> None:
    make_plan("vpn-only", entitlements=["vpn"])
    with open_unit() as unit:
        _, canonical = unit.codes.create_code(unit.plans.by_code("vpn-only"), CodeOrigin.MANUAL)

    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not any(enabled(pilot, name) for name in ("antivirus", "vpn", "password-manager"))
        assert text(pilot, "#features-note") == "The features open with an active license."

        await open_licensing(pilot)
        await activate(pilot, formats.format_code(canonical))
        await click(pilot, "#close")

        assert enabled(pilot, "vpn")
        assert not enabled(pilot, "antivirus")
        assert not enabled(pilot, "password-manager")
        assert text(pilot, "#features-note") == (
            "Your plan does not include: Antivirus, Password manager"
        )
        await click(pilot, "#feature-vpn")
        assert message(pilot) == "VPN: included in your plan."
