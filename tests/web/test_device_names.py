"""A name an account gives its device stays that account's (issue 14, follow-up of items 5
and 12): another account's license with a seat on the same machine is shown the name the
app reports, in the 409 device_limit_reached, on that license's page in My Account and on
the page behind the mailed seat-release link. Same-named devices on a license's page are
told apart by their tag, as on the Devices page."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from licensor.db import Database
from licensor.keys import Keyring
from licensor.mail.outbox import bodies
from tests.accounts.factories import (
    PASSWORD,
    Customer,
    MakeAccount,
    link,
    link_in_mail,
    outbox,
)
from tests.licensing.factories import (
    MakeCode,
    activate,
    device,
    request_release_link,
    try_activate,
)
from tests.support import assert_problem
from tests.web.conftest import sign_in

OWNERS_NAME = "Anna's study PC"


def rename_in_my_account(page: Page, customer: Customer, app_name: str, name: str) -> None:
    sign_in(page, customer.email, PASSWORD)
    page.goto("/account/devices")
    page.get_by_role("link", name=f"Rename {app_name}").click()
    page.get_by_label("Name of this device").fill(name)
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("status")).to_have_text("The device's name was saved.")
    page.get_by_role("button", name="Sign out").click()


def test_a_name_given_by_one_account_is_never_shown_to_another_accounts_license(
    page: Page,
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    make_account: MakeAccount,
    make_code: MakeCode,
) -> None:
    anna, bruno = make_account(), make_account()
    # Anna's license on her PC, joined from the app: the PC is connected to her account,
    # and she names it.
    pc = device("DESKTOP-4821")
    annas = activate(api, make_code(), pc)
    assert link(api, anna, annas["license_key"], pc["fingerprint"]).status_code == 200
    rename_in_my_account(page, anna, "DESKTOP-4821", OWNERS_NAME)

    # Bruno's one-device license takes a seat on the same machine (a fingerprint is no
    # secret), and he adds its code to his account.
    brunos_code = make_code("single", devices_max=1)
    brunos = activate(api, brunos_code, pc)
    sign_in(page, bruno.email, PASSWORD)
    page.goto("/account/licenses")
    page.get_by_label("Activation code").fill(brunos_code)
    page.get_by_role("button", name="Add to my account").click()
    expect(page.get_by_role("status")).to_have_text("The code was added to your account.")

    # The 409 at the limit names the device as its app does.
    refused = try_activate(api, brunos_code, device("New laptop"))
    assert_problem(refused, 409, "device_limit_reached")
    assert [seat["name"] for seat in refused.json()["devices"]] == ["DESKTOP-4821"]
    assert OWNERS_NAME not in refused.text

    # So does Bruno's license page...
    page.goto(f"/account/licenses/{brunos['public_id']}")
    devices = page.get_by_role("region", name="Devices")
    expect(devices.get_by_role("heading", level=4)).to_have_text(["DESKTOP-4821"])
    expect(page.locator("main")).not_to_contain_text(OWNERS_NAME)
    page.get_by_role("button", name="Sign out").click()

    # ...and the page behind the link mailed to him, his license's owner.
    assert request_release_link(api, device(), activation_code=brunos_code).status_code == 202
    [mail] = outbox(database, bruno.email, "seat_release_link")
    text, html = bodies(keyring, mail)
    assert "DESKTOP-4821" in text
    assert OWNERS_NAME not in text + html
    page.goto(link_in_mail(keyring, mail, "/seat-release/"))
    expect(page.locator("main")).to_contain_text("DESKTOP-4821")
    expect(page.locator("main")).not_to_contain_text(OWNERS_NAME)

    # Anna still sees her own name for it on her license's page.
    sign_in(page, anna.email, PASSWORD)
    page.goto(f"/account/licenses/{annas['public_id']}")
    devices = page.get_by_role("region", name="Devices")
    expect(devices.get_by_role("heading", level=4)).to_have_text([OWNERS_NAME])


def test_same_named_devices_on_a_license_page_are_told_apart_by_their_tag(
    page: Page, api: httpx.Client, make_account: MakeAccount, make_code: MakeCode
) -> None:
    owner = make_account()
    code = make_code()
    first, second = device("Laptop"), device("Laptop")
    activated = activate(api, code, first)
    activate(api, code, second)
    assert link(api, owner, activated["license_key"], first["fingerprint"]).status_code == 200

    sign_in(page, owner.email, PASSWORD)
    page.goto(f"/account/licenses/{activated['public_id']}")
    names = page.get_by_role("region", name="Devices").get_by_role("heading", level=4)
    expect(names).to_have_count(2)
    labels = names.all_inner_texts()
    assert all(label.startswith("Laptop \u00b7 ") for label in labels), labels
    assert len(set(labels)) == 2
    # The same tag as the Devices page gives each.
    page.goto("/account/devices")
    for label in labels:
        expect(page.get_by_role("heading", name=label)).to_have_count(1)
