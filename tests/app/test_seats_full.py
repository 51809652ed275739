"""The reference app when a license is on all its devices (issue 14, item 12): the
activation window lists them (name, last seen), gives My Account's address, and mails the
owner a link that frees a seat; once one is free, the same code activates. And where the
focus is when the Licensing and License details windows open (item 15)."""

from __future__ import annotations

import httpx
import pytest

from licensor.db import Database
from licensor_app.i18n import format_date
from tests.accounts.factories import outbox
from tests.app.conftest import MakeMachine
from tests.app.screens import (
    SIZE,
    activate,
    click,
    message,
    open_licensing,
    shown,
    text,
    window,
)
from tests.licensing.factories import MakeCode, device
from tests.licensing.factories import activate as activate_by_api
from tests.store.factories import MakeOrder

pytestmark = pytest.mark.anyio


async def test_the_activation_window_lists_the_devices_and_mails_the_owner_a_link(
    machine: MakeMachine,
    make_order: MakeOrder,
    api: httpx.Client,
    database: Database,
    server: str,
) -> None:
    order = make_order("plus")  # three devices
    code = order.codes[0]
    held = {name: device(name) for name in ("Office PC", "Laptop", "Old PC")}
    answers = {name: activate_by_api(api, code, pc) for name, pc in held.items()}
    app = machine("newcomer")
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        refused = await activate(pilot, code)

        assert window(pilot) == "Enter activation code"
        assert "already in use on all the devices it allows" in refused
        assert shown(pilot, "#seats-full")
        listed = text(pilot, "#seat-devices")
        today = format_date(app.client.now(), "en")
        for name in held:
            assert f"• {name}: last seen {today}" in listed
        assert f"{server}/account/devices" in text(pilot, "#seats-full-ways")

        await click(pilot, "#email-release-link")

        said = text(pilot, "#link-message")
        assert said.startswith("If this license has an owner on record, we have emailed them")
        assert not shown(pilot, "#email-release-link")
        [mail] = outbox(database, order.email, "seat_release_link")
        assert mail.language == "en"

        # The owner frees the old PC's seat (here from that PC's app); the code now works.
        released = api.post(
            "/api/v1/activations/release",
            json={
                "license_key": answers["Old PC"]["license_key"],
                "fingerprint": held["Old PC"]["fingerprint"],
            },
        )
        assert released.status_code == 200, released.text
        await click(pilot, "#activate")
        assert window(pilot) == "Licensing"
        assert message(pilot) == "The license is active on this device."
        assert text(pilot, "#devices") == "3 of 3"


async def test_a_license_nobody_owns_offers_no_link_and_speaks_italian(
    machine: MakeMachine, make_code: MakeCode, api: httpx.Client
) -> None:
    code = make_code("solo", devices_max=1)
    activate_by_api(api, code, device("Portatile"))
    app = machine("nuovo", language="it")
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)

        assert text(pilot, "#seats-full-title") == "La licenza è in uso su questi dispositivi:"
        assert "• Portatile: visto l'ultima volta il" in text(pilot, "#seat-devices")
        ways = text(pilot, "#seats-full-ways")
        assert ways.startswith("Per usarla qui, libera un posto")
        assert ways.endswith("aggiungi il suo codice di attivazione nella sezione Licenze.")
        assert not shown(pilot, "#email-release-link")


async def test_focus_is_on_the_first_control_when_licensing_and_details_open(
    machine: MakeMachine, make_code: MakeCode
) -> None:
    app = machine()
    async with app.run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        assert app.focused is not None
        assert app.focused.id == "enter-code"  # no license yet: the first action

        await activate(pilot, make_code())
        await click(pilot, "#close")
        await click(pilot, "#license")
        assert app.focused is not None
        assert app.focused.id == "enter-code"

        await click(pilot, "#show-details")
        assert window(pilot) == "License details"
        assert app.focused is not None
        assert app.focused.id == "copy"
