"""My Account's Devices (issue 14, item 5), as a customer clicks it in Chromium: a name of
one's own for a device, removal after a page that says what it frees, then back on the
list (post/redirect/get: a reload posts nothing and answers no 405), and same-named
devices told apart. Devices are played by the API, as the app would call it."""

from __future__ import annotations

import httpx
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from licensor.db import Database
from licensor.models import Activation, Device
from tests.accounts.factories import (
    PASSWORD,
    Customer,
    LinkCode,
    MakeAccount,
    OpenBrowser,
    link,
)
from tests.licensing.factories import MakeCode, activate, device
from tests.support import audit_events
from tests.web.conftest import sign_in, sign_in_italian

PHONE_WIDTH = 390


def seated(api: httpx.Client, customer: Customer, code: str, machine: dict[str, str]) -> str:
    """Activate the code on the machine and link it to the customer; its public ID."""
    activated = activate(api, code, machine)
    linked = link(api, customer, activated["license_key"], machine["fingerprint"])
    assert linked.status_code == 200, linked.text
    return str(activated["public_id"])


def device_id(database: Database, fingerprint: str) -> int:
    with database.transaction() as session:
        return session.scalars(select(Device.id).where(Device.fingerprint == fingerprint)).one()


def live_seats(database: Database, fingerprint: str) -> int:
    with database.transaction() as session:
        return len(
            session.scalars(
                select(Activation.id)
                .join(Device, Device.id == Activation.device_id)
                .where(Device.fingerprint == fingerprint, Activation.released_at.is_(None))
            ).all()
        )


def entry(page: Page, heading: str) -> Locator:
    """The Devices list's entry under this heading."""
    return page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=heading))


def fits_the_width(page: Page, width: int) -> bool:
    return bool(page.evaluate(f"document.documentElement.scrollWidth <= {width}"))


# --- rename -------------------------------------------------------------------------------


def test_a_device_gets_a_name_of_the_owners_and_the_apps_name_stays_beside_it(
    page: Page,
    api: httpx.Client,
    server: str,
    database: Database,
    make_account: MakeAccount,
    make_code: MakeCode,
) -> None:
    customer = make_account()
    laptop = device("LAPTOP-7QX2")
    seated(api, customer, make_code(), laptop)
    sign_in(page, customer.email, PASSWORD)
    page.goto("/account/devices")

    entry(page, "LAPTOP-7QX2").get_by_role("link", name="Rename LAPTOP-7QX2").click()
    expect(page.get_by_label("Name of this device")).to_have_accessible_description(
        "The app calls it LAPTOP-7QX2. Leave the field empty to use that name again; "
        "at most 60 characters."
    )
    page.get_by_label("Name of this device").fill("  Anna's   laptop ")
    page.get_by_role("button", name="Save name").click()

    expect(page).to_have_url(f"{server}/account/devices")
    expect(page.get_by_role("status")).to_have_text("The device's name was saved.")
    renamed = entry(page, "Anna's laptop")
    expect(renamed).to_contain_text("Name in the app")
    expect(renamed).to_contain_text("LAPTOP-7QX2")
    page.reload()
    expect(page.get_by_role("status")).to_have_count(0)  # said once, after the redirect
    expect(entry(page, "Anna's laptop")).to_have_count(1)
    assert [event.action for event in audit_events(database, "accounts.device_renamed")] == [
        "accounts.device_renamed"
    ]

    # Too long: said beside the field, nothing saved.
    entry(page, "Anna's laptop").get_by_role("link", name="Rename Anna's laptop").click()
    field = page.get_by_label("Name of this device")
    expect(field).to_have_value("Anna's laptop")
    field.fill("x" * 61)
    with page.expect_response(lambda answer: answer.request.method == "POST") as answer:
        page.get_by_role("button", name="Save name").click()
    assert answer.value.status == 422
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description("Use at most 60 characters.")

    # Empty: the app's name again.
    field.fill("")
    page.get_by_role("button", name="Save name").click()
    expect(page).to_have_url(f"{server}/account/devices")
    expect(page.get_by_role("heading", name="LAPTOP-7QX2", level=3)).to_be_visible()
    expect(page.get_by_text("Name in the app")).to_have_count(0)
    with database.transaction() as session:
        stored = session.get_one(Device, device_id(database, laptop["fingerprint"]))
        assert (stored.name, stored.display_name) == ("LAPTOP-7QX2", None)


def test_renaming_in_italian(
    italian_page: Page,
    api: httpx.Client,
    server: str,
    make_account: MakeAccount,
    make_code: MakeCode,
) -> None:
    page = italian_page
    customer = make_account(language="it")
    seated(api, customer, make_code(), device("PC-UFFICIO"))
    sign_in_italian(page, customer.email, PASSWORD)
    page.goto("/account/devices")

    page.get_by_role("link", name="Rinomina PC-UFFICIO").click()
    page.get_by_label("Nome del dispositivo").fill("PC dello studio")
    page.get_by_role("button", name="Salva il nome").click()

    expect(page).to_have_url(f"{server}/account/devices")
    expect(page.get_by_role("status")).to_have_text("Il nome del dispositivo è stato salvato.")
    expect(entry(page, "PC dello studio")).to_contain_text("Nome nell'applicazione")


# --- remove, after a page that says what it frees -------------------------------------------


def test_removing_a_device_asks_first_then_lands_on_the_list_and_a_reload_posts_nothing(
    page: Page,
    api: httpx.Client,
    server: str,
    database: Database,
    make_account: MakeAccount,
    make_code: MakeCode,
) -> None:
    customer = make_account()
    old_pc = device("Old PC")
    first = seated(api, customer, make_code("solo", devices_max=1), old_pc)
    second = seated(api, customer, make_code("plus", devices_max=3), old_pc)
    sign_in(page, customer.email, PASSWORD)
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 800})
    page.goto("/account/devices")
    assert fits_the_width(page, PHONE_WIDTH)

    entry(page, "Old PC").get_by_role("link", name="Remove Old PC").click()
    expect(page).to_have_url(
        f"{server}/account/devices/{device_id(database, old_pc['fingerprint'])}/remove"
    )
    expect(page.get_by_role("heading", name="Remove Old PC?")).to_be_visible()
    expect(
        page.get_by_text("These licenses will no longer be active on this device")
    ).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text=first)).to_have_text(f"Solo ({first})")
    expect(page.get_by_role("listitem").filter(has_text=second)).to_have_text(f"Plus ({second})")
    assert fits_the_width(page, PHONE_WIDTH)
    assert live_seats(database, old_pc["fingerprint"]) == 2  # the page alone changes nothing

    page.get_by_role("button", name="Remove Old PC").click()

    expect(page).to_have_url(f"{server}/account/devices")
    expect(page.get_by_role("status")).to_have_text(
        "The device was removed; 2 license seats are free again."
    )
    expect(page.get_by_role("heading", name="Old PC")).to_have_count(0)
    assert live_seats(database, old_pc["fingerprint"]) == 0
    reloaded = page.reload()
    assert reloaded is not None
    assert reloaded.status == 200
    expect(page.get_by_role("status")).to_have_count(0)
    assert len(audit_events(database, "accounts.device_removed")) == 1


def test_cancel_on_the_removal_page_keeps_the_device(
    page: Page,
    api: httpx.Client,
    server: str,
    database: Database,
    make_account: MakeAccount,
    make_code: MakeCode,
) -> None:
    customer = make_account()
    laptop = device("Laptop")
    seated(api, customer, make_code(), laptop)
    sign_in(page, customer.email, PASSWORD)
    page.goto("/account/devices")

    page.get_by_role("link", name="Remove Laptop").click()
    page.get_by_role("link", name="Cancel").click()

    expect(page).to_have_url(f"{server}/account/devices")
    expect(entry(page, "Laptop")).to_have_count(1)
    assert live_seats(database, laptop["fingerprint"]) == 1


def test_removing_a_device_in_italian_says_the_seat_in_the_singular(
    italian_page: Page,
    api: httpx.Client,
    server: str,
    make_account: MakeAccount,
    make_code: MakeCode,
) -> None:
    page = italian_page
    customer = make_account(language="it")
    seated(api, customer, make_code(), device("Portatile"))
    sign_in_italian(page, customer.email, PASSWORD)
    page.goto("/account/devices")

    page.get_by_role("link", name="Rimuovi Portatile").click()
    expect(page.get_by_role("heading", name="Rimuovere Portatile?")).to_be_visible()
    expect(
        page.get_by_text("Questa licenza non sarà più attiva su questo dispositivo")
    ).to_be_visible()
    page.get_by_role("button", name="Rimuovi Portatile").click()

    expect(page).to_have_url(f"{server}/account/devices")
    expect(page.get_by_role("status")).to_have_text(
        "Il dispositivo è stato rimosso: 1 posto di licenza è di nuovo libero."
    )


# --- same-named devices ---------------------------------------------------------------------


def test_devices_with_the_same_name_are_told_apart(
    page: Page,
    api: httpx.Client,
    server: str,
    database: Database,
    make_account: MakeAccount,
    make_code: MakeCode,
) -> None:
    customer = make_account()
    home, work = device("Desktop"), device("Desktop")
    work["platform"] = "windows"
    seated(api, customer, make_code(), home)
    seated(api, customer, make_code(), work)
    sign_in(page, customer.email, PASSWORD)
    page.goto("/account/devices")

    headings = page.get_by_role("heading", level=3)
    expect(headings).to_have_count(2)
    names = headings.all_inner_texts()
    assert len(set(names)) == 2, names
    assert all(
        name.startswith("Desktop · ") and len(name) == len("Desktop · XXXX") for name in names
    )
    for name in names:
        tag = name.rpartition(" ")[2]
        assert tag.upper() not in (home["fingerprint"] + work["fingerprint"]).upper()
        expect(entry(page, name)).to_contain_text(f"Device tag{tag}")
        expect(entry(page, name).get_by_role("link", name=f"Remove {name}")).to_have_count(1)
    expect(page.locator("ul.devices")).to_contain_text("windows")
    expect(page.get_by_text("First activated")).to_have_count(2)

    # Named apart by the owner, each is its name alone again.
    page.get_by_role("link", name=f"Rename {names[0]}").click()
    page.get_by_label("Name of this device").fill("Desktop at home")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("heading", name="Desktop", exact=True)).to_have_count(1)
    expect(page.get_by_role("heading", name="Desktop at home")).to_have_count(1)


# --- another customer's device ----------------------------------------------------------------


def test_another_customers_device_cannot_be_seen_renamed_or_removed(
    make_account: MakeAccount, linked_code: LinkCode, form_browser: OpenBrowser, database: Database
) -> None:
    ann, bob = make_account(), make_account()
    linked_code(ann)
    bobs = linked_code(bob)
    bobs_device = device_id(database, bobs.fingerprint)
    anns_browser = form_browser()
    anns_browser.sign_in(ann)
    token = anns_browser.csrf_token("/account/devices")

    assert anns_browser.get(f"/account/devices/{bobs_device}/remove").status_code == 404
    assert anns_browser.get(f"/account/devices/{bobs_device}/rename").status_code == 404
    renamed = anns_browser.post(
        f"/account/devices/{bobs_device}/rename", {"name": "Mine"}, token=token
    )
    assert renamed.status_code == 404
    assert anns_browser.get(f"/account/devices/{bobs_device + 1000}/remove").status_code == 404

    with database.transaction() as session:
        assert session.get_one(Device, bobs_device).display_name is None
    assert live_seats(database, bobs.fingerprint) == 1


def test_a_name_is_the_namers_own_and_a_shared_machine_is_no_ones_to_name(
    api: httpx.Client,
    make_account: MakeAccount,
    make_code: MakeCode,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    # A fingerprint is no secret: anyone can take a seat on any machine with a code of
    # their own. So a seat alone does not let an account name a machine for others.
    ann, bob = make_account(), make_account()
    machine = device("FAMILY-PC")
    seated(api, ann, make_code(), machine)
    anns_browser = form_browser()
    anns_browser.sign_in(ann)
    pc = device_id(database, machine["fingerprint"])
    renamed = anns_browser.post(
        f"/account/devices/{pc}/rename",
        {"name": "Ann's study"},
        token=anns_browser.csrf_token("/account/devices"),
    )
    assert renamed.status_code == 303

    seated(api, bob, make_code(), machine)
    bobs_browser = form_browser()
    bobs_browser.sign_in(bob)
    bobs_page = bobs_browser.get("/account/devices").text

    assert "FAMILY-PC" in bobs_page
    assert "Ann&#39;s study" not in bobs_page
    assert f"/account/devices/{pc}/rename" not in bobs_page
    refused = bobs_browser.post(
        f"/account/devices/{pc}/rename",
        {"name": "Call +1 555 0100 for support"},
        token=bobs_browser.csrf_token("/account/devices"),
    )
    assert refused.status_code == 404
    assert "Ann&#39;s study" in anns_browser.get("/account/devices").text  # connected to Ann

    # Ann removes it: her name for it goes with it.
    removed = anns_browser.post(
        f"/account/devices/{pc}/remove", token=anns_browser.csrf_token("/account/devices")
    )
    assert removed.status_code == 303
    with database.transaction() as session:
        assert session.get_one(Device, pc).display_name is None
