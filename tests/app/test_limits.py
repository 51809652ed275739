"""The License window explains, in words, why a license is not valid (issue 16, item 10),
and a transfer over the plan's cap says from when the license can move here (item 4)."""

from __future__ import annotations

import httpx
import pytest

from tests.app.conftest import MakeMachine
from tests.app.screens import SIZE, activate, open_licensing, shown, text
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode

pytestmark = pytest.mark.anyio


async def test_the_license_window_says_why_and_when_a_transfer_is_allowed(
    machine: MakeMachine, make_code: MakeCode, open_unit: OpenUnit, api: httpx.Client
) -> None:
    code = make_code("classroom", devices_max=1)
    with open_unit() as unit:
        unit.plans.edit("classroom", transfer_limit=0, transfer_period_days=30)
    first = machine("first")
    async with first.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
        assert not shown(pilot, "#why-not-valid")
    # Freed in My Account: the app on that computer learns it at its next check.
    api.post(
        "/api/v1/activations/release",
        json={
            "license_key": first.client.details().license_key,
            "fingerprint": first.client.fingerprint,
        },
    ).raise_for_status()

    for language, words in (
        ("en", "The license was removed from this device (here, on another device or in My "),
        ("it", "La licenza è stata rimossa da questo dispositivo (qui, da un altro dispositivo "),
    ):
        async with machine("first", language=language).run_test(size=SIZE) as pilot:
            await open_licensing(pilot)
            assert shown(pilot, "#why-not-valid")
            assert text(pilot, "#why-not-valid").startswith(words)

    async with machine("second", language="it").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        said = await activate(pilot, code)
    assert said.startswith(
        "Questa licenza è passata a nuovi dispositivi tutte le volte che il suo piano consente "
        "per ora. Potrà passare a questo dispositivo dal "
    )
