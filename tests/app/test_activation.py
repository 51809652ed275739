"""F3 in the app: the Licensing window before and after activating, and what the main
window says; and each refusal of a code, in the customer's words."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from licensor.clock import Clock
from licensor.licensing import formats
from licensor_app.i18n import format_date
from tests.app.conftest import MakeMachine
from tests.app.screens import (
    SIZE,
    activate,
    click,
    fill,
    message,
    open_licensing,
    settle,
    shown,
    text,
    window,
)
from tests.licensing.factories import BlockCode, MakeCode
from tests.store.factories import Allocate, MakePartner
from tests.support import closed_server

pytestmark = pytest.mark.anyio


def server_view(api: httpx.Client, license_key: str, fingerprint: str) -> dict[str, object]:
    """What the server says of the license on that device (a signed validation)."""
    response = api.post(
        "/api/v1/licenses/validate", json={"license_key": license_key, "fingerprint": fingerprint}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


async def test_activating_shows_plan_status_expiry_and_devices(
    machine: MakeMachine, make_code: MakeCode, api: httpx.Client
) -> None:
    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        assert window(pilot) == "Licensing"
        assert shown(pilot, "#no-license")
        assert [shown(pilot, f"#{name}") for name in ("enter-code", "restore-license", "connect")]
        assert not shown(pilot, "#show-details")
        assert not shown(pilot, "#remove-license")

        said = await activate(pilot, make_code("plus", devices_max=3))

        assert said == "The license is active on this device."
        assert window(pilot) == "Licensing"
        assert not shown(pilot, "#no-license")
        assert text(pilot, "#plan") == "Plus"
        assert text(pilot, "#status") == "Active"
        assert text(pilot, "#devices") == "1 of 3"
        info = app.client.details()
        seen = server_view(api, info.license_key, app.client.fingerprint)
        assert seen["valid"] is True
        assert seen["devices_used"] == 1
        assert info.expires_at is not None
        assert str(seen["expires_at"]).startswith(info.expires_at.strftime("%Y-%m-%d"))
        assert text(pilot, "#expires") == format_date(info.expires_at, "en")
        assert text(pilot, "#checked") == "Checked with the license server just now."
        for action in ("show-details", "recover", "remove-license", "save-backup"):
            assert shown(pilot, f"#{action}")
        assert not shown(pilot, "#connect")

        await click(pilot, "#close")
        assert text(pilot, "#summary") == (
            f"Plus: active until {format_date(info.expires_at, 'en')}"
        )


async def test_the_main_window_checks_the_license_when_the_app_starts(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        assert (
            await activate(pilot, make_code("premium")) == "The license is active on this device."
        )

    async with machine().run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert str(pilot.app.screen.query_one("#product").render()) == "Licensor Demo"
        await open_licensing(pilot)  # waits for the check the main window started
        await click(pilot, "#close")
        assert text(pilot, "#summary").startswith("Premium: active until ")


async def test_without_the_server_the_license_is_checked_from_its_file(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code())

    async with machine(server=closed_server()).run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        assert text(pilot, "#status") == "Active"
        assert text(pilot, "#checked") == (
            "The license server cannot be reached: checked from the license file."
        )


async def test_a_block_seen_online_still_shows_when_the_app_starts_offline(
    machine: MakeMachine, make_code: MakeCode, block_code: BlockCode
) -> None:
    code = make_code("plus")
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
    block_code(code, "refund")
    async with machine().run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert text(pilot, "#summary") == "Plus: Blocked"

    async with machine(server=closed_server()).run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert text(pilot, "#summary") == "Plus: Blocked"  # not "active" from the old file


async def test_a_mistyped_code_is_told_apart_from_an_unknown_one(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    code = make_code()
    last = code[-1]
    mistyped = code[:-1] + ("X" if last != "X" else "Y")
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)

        said = await activate(pilot, mistyped)
        assert window(pilot) == "Enter activation code"
        assert said.startswith("This activation code is mistyped.")

        fill(pilot, "#activation-code", formats.format_code(formats.generate_code()))
        await click(pilot, "#activate")
        assert message(pilot).startswith("This activation code is not known to us.")

        await click(pilot, "#cancel")
        assert window(pilot) == "Licensing"
        assert shown(pilot, "#no-license")


async def test_a_blocked_code_says_to_contact_support(
    machine: MakeMachine, make_code: MakeCode, block_code: BlockCode
) -> None:
    code = make_code()
    block_code(code, "refund")
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        said = await activate(pilot, code)
    assert said == "This activation code is blocked and cannot be used. Contact customer support."


async def test_an_unsold_code_says_to_ask_the_shop_to_register_the_sale(
    machine: MakeMachine, make_partner: MakePartner, allocate: Allocate
) -> None:
    (code,) = allocate(make_partner().slug, count=1)  # a reseller's card, not sold yet
    async with machine(language="it").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        said = await activate(pilot, code)
    assert said.startswith("Questo codice di attivazione non risulta ancora venduto")
    async with machine("other").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        said = await activate(pilot, code)
    assert said == (
        "This activation code has not been registered as sold yet, so it cannot be activated. "
        "Ask the shop where you bought it to register the sale, then try again."
    )


async def test_an_expired_license_says_to_renew(
    machine: MakeMachine, make_code: MakeCode, clock: Clock
) -> None:
    code = make_code("monthly", term_days=30)
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
        clock.advance(timedelta(days=31))
        said = await activate(pilot, code)
    assert said == "This license has expired. Renew it, or buy a new one in the store."


async def test_without_a_network_activation_says_to_check_the_connection(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    async with machine(server=closed_server()).run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        said = await activate(pilot, make_code())
    assert said == (
        "Cannot reach the license server. Check your internet connection and try again."
    )


async def test_an_empty_code_is_asked_for_and_escape_closes_the_window(
    machine: MakeMachine,
) -> None:
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        said = await activate(pilot, "  ")
        assert said == "Enter the activation code from your purchase."

        await pilot.press("escape")
        await settle(pilot)
        assert window(pilot) == "Licensing"


async def test_a_license_file_changed_on_disk_is_not_believed(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code("plus", devices_max=3))
    state_file = app.client.state_dir / "license.json"
    state = json.loads(state_file.read_text())
    state["license_file"]["payload"]["devices_max"] = 300  # a "free upgrade"
    state_file.write_text(json.dumps(state))

    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        assert shown(pilot, "#no-license")
        assert message(pilot).startswith("The license could not be verified")
