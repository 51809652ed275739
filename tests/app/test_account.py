"""Connect to My Account (seed 000, F4) and connecting with a short code (F10), against
the real server: the code then shows in My Account's Licenses section."""

from __future__ import annotations

import pytest

from tests.accounts.factories import LinkCode, MakeAccount, OpenBrowser, ShareLicense
from tests.app.conftest import MakeMachine
from tests.app.screens import (
    SIZE,
    activate,
    click,
    fill,
    label,
    message,
    open_licensing,
    shown,
    text,
    wait_for_connection,
    window,
)
from tests.licensing.factories import MakeCode
from tests.limits import StartLimitedServer
from tests.support import closed_server

pytestmark = pytest.mark.anyio


async def test_recover_sends_the_code_to_the_licenses_section_of_my_account(
    machine: MakeMachine,
    make_code: MakeCode,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    server: str,
) -> None:
    customer = make_account()
    code = make_code()
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
        await click(pilot, "#recover")
        assert window(pilot) == "Connect to My Account"
        assert not shown(pilot, "#code-panel")
        assert pilot.app.screen.query_one("#password").password  # type: ignore[attr-defined]

        fill(pilot, "#email", customer.email)
        fill(pilot, "#password", customer.password)
        await click(pilot, "#sign-in")

        assert message(pilot) == (
            "Your license was sent to your account. Its activation code is now in the "
            f"Licenses section of My Account: {server}/account/licenses"
        )

        fill(pilot, "#password", customer.password)
        await click(pilot, "#sign-in")
        assert message(pilot).startswith("This license was already in your account.")

    browser = form_browser()
    browser.sign_in(customer)
    licenses = browser.get("/account/licenses")
    assert licenses.status_code == 200
    assert code in licenses.text


async def test_sign_in_refusals_are_told_apart(
    machine: MakeMachine, make_code: MakeCode, make_account: MakeAccount
) -> None:
    customer = make_account()
    unverified = make_account(verified=False)
    owner = make_account()
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code())
        await click(pilot, "#recover")

        await click(pilot, "#sign-in")
        assert message(pilot) == "Enter your email address and password."

        fill(pilot, "#email", customer.email)
        fill(pilot, "#password", "not the password")
        await click(pilot, "#sign-in")
        assert message(pilot) == "Wrong email or password."

        fill(pilot, "#email", unverified.email)
        fill(pilot, "#password", unverified.password)
        await click(pilot, "#sign-in")
        assert message(pilot).startswith("Your email address is not confirmed yet.")

        fill(pilot, "#email", owner.email)
        fill(pilot, "#password", owner.password)
        await click(pilot, "#sign-in")
        assert message(pilot).startswith("Your license was sent to your account.")

        fill(pilot, "#email", customer.email)
        fill(pilot, "#password", customer.password)
        await click(pilot, "#sign-in")
        assert message(pilot) == (
            "This license is linked to another account. If it is yours, contact customer support."
        )


async def test_too_many_sign_ins_say_when_to_try_again(
    machine: MakeMachine,
    make_code: MakeCode,
    make_account: MakeAccount,
    limited_server: StartLimitedServer,
) -> None:
    customer = make_account()
    with limited_server(link_rate="1/minute") as limited:
        async with machine(server=limited.url).run_test(size=SIZE) as pilot:
            await open_licensing(pilot)
            await activate(pilot, make_code())
            await click(pilot, "#recover")
            fill(pilot, "#email", customer.email)
            for _attempt in range(2):
                fill(pilot, "#password", "not the password")
                await click(pilot, "#sign-in")
            said = message(pilot)
    assert said.startswith("Too many attempts. Try again in ")


async def test_without_a_network_sign_in_says_to_check_the_connection(
    machine: MakeMachine, make_code: MakeCode, make_account: MakeAccount
) -> None:
    customer = make_account()
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, make_code())
    async with machine(server=closed_server()).run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await click(pilot, "#recover")
        fill(pilot, "#email", customer.email)
        fill(pilot, "#password", customer.password)
        await click(pilot, "#sign-in")
        assert message(pilot) == (
            "Cannot reach the license server. Check your internet connection and try again."
        )


async def test_connect_with_a_code_entered_in_my_account(
    machine: MakeMachine,
    make_code: MakeCode,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    server: str,
) -> None:
    customer = make_account()
    code = make_code()
    browser = form_browser()
    browser.sign_in(customer)
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await activate(pilot, code)
        await click(pilot, "#recover")
        await click(pilot, "#connect-with-code")

        user_code = text(pilot, "#user-code")
        assert len(user_code.replace("-", "")) == 8
        assert text(pilot, "#verification-uri") == f"{server}/account/connect"
        assert text(pilot, "#connect-status") == "Waiting for the code to be entered…"

        entered = browser.post("/account/connect", {"code": user_code}, token=None)
        assert entered.status_code == 200, entered.text
        await click(pilot, "#check-now")
        await wait_for_connection(pilot)

        said = message(pilot)
        assert said.startswith("This device is now connected to your account ")
        assert said.endswith(
            "Its license was sent there too: the activation code is in the Licenses section "
            "of My Account."
        )
    assert code in browser.get("/account/licenses").text


async def test_without_a_license_connect_shows_the_code_at_once(
    machine: MakeMachine, make_account: MakeAccount, form_browser: OpenBrowser
) -> None:
    browser = form_browser()
    browser.sign_in(make_account())
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await click(pilot, "#connect")

        assert window(pilot) == "Connect to My Account"
        assert not shown(pilot, "#sign-in-panel")
        user_code = text(pilot, "#user-code")
        browser.post("/account/connect", {"code": user_code})
        await click(pilot, "#check-now")
        await wait_for_connection(pilot)
        assert message(pilot).startswith("This device is now connected to your account ")

        await click(pilot, "#close")
        assert window(pilot) == "Licensing"


async def test_closing_the_window_stops_waiting_for_the_code(machine: MakeMachine) -> None:
    async with machine().run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await click(pilot, "#connect")
        assert text(pilot, "#user-code")

        await click(pilot, "#close")
        await wait_for_connection(pilot)  # returns: the poll ended with the window
        assert window(pilot) == "Licensing"


async def test_a_license_shared_with_the_account_is_used_on_this_device_without_its_code(
    machine: MakeMachine,
    make_account: MakeAccount,
    linked_code: LinkCode,
    share_license: ShareLicense,
) -> None:
    owner, invitee = make_account(), make_account()
    linked = linked_code(owner)
    share_license(owner, linked.public_id, invitee)
    async with machine("tablet").run_test(size=SIZE) as pilot:
        await open_licensing(pilot)
        await click(pilot, "#use-shared")
        assert window(pilot) == "Use a license shared with me"
        fill(pilot, "#email", invitee.email)
        fill(pilot, "#password", invitee.password)
        await click(pilot, "#find")
        assert label(pilot, "#use-0") == (
            f"Use Plus ({linked.public_id}), shared by {owner.email[:2]}***@example.com"
        )
        await click(pilot, "#use-0")
        assert window(pilot) == "Licensing"
        assert message(pilot) == "The license is active on this device."
        assert text(pilot, "#devices").startswith("2 of 3")
