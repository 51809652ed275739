"""The page behind the mailed link that frees a seat (issue 14, item 12), in Chromium: the
owner opens it from the mail, frees the seat of a device they no longer use, and the new
device activates; the link works once, and not after a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
from playwright.sync_api import Page, expect

from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from tests.accounts.factories import link_in_mail, outbox
from tests.licensing.factories import (
    activate,
    device,
    request_release_link,
    try_activate,
    validate,
)
from tests.store.factories import MakeOrder
from tests.support import assert_problem, audit_events


@dataclass(frozen=True)
class FullLicense:
    code: str
    license_key: str
    machines: dict[str, dict[str, str]]  # by name: the devices holding its seats
    newcomer: dict[str, str]  # the device refused at the limit
    owner_email: str
    link: str  # the path of the mailed link


def _full_license_and_its_link(
    api: httpx.Client,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
    *,
    language: str = "en",
) -> FullLicense:
    """A three-device license in use on three PCs, and the link mailed to its order's
    address after a fourth device was refused and asked for it."""
    order = make_order("plus", language=language)
    code = order.codes[0]
    machines = {name: device(name) for name in ("Old PC", "Office PC", "Laptop")}
    answers = [activate(api, code, machine) for machine in machines.values()]
    newcomer = device("New PC")
    assert_problem(try_activate(api, code, newcomer), 409, "device_limit_reached")
    assert request_release_link(api, newcomer, activation_code=code).status_code == 202
    [mail] = outbox(database, order.email, "seat_release_link")
    link = link_in_mail(keyring, mail, "/seat-release/")
    return FullLicense(code, answers[0]["license_key"], machines, newcomer, order.email, link)


def test_the_owner_frees_a_seat_from_the_mail_and_the_new_device_activates(
    page: Page,
    api: httpx.Client,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    full = _full_license_and_its_link(api, make_order, database, keyring)
    machines = full.machines

    page.goto(full.link)
    expect(page.get_by_role("heading", name="Free a seat of your license", level=1)).to_be_visible()
    for name in machines:
        expect(page.get_by_role("heading", name=name, level=2)).to_be_visible()
    page.get_by_role("button", name="Free this seat: remove the license from Old PC").click()

    expect(page.get_by_role("heading", name="The seat is free", level=1)).to_be_visible()
    assert page.url.endswith("/seat-release/done")
    moved = activate(api, full.code, full.newcomer)
    assert moved["devices_used"] == 3
    old_pc, laptop = machines["Old PC"]["fingerprint"], machines["Laptop"]["fingerprint"]
    assert validate(api, full.license_key, old_pc)["status"] == "released"
    assert validate(api, full.license_key, laptop)["status"] == "active"
    [freed] = audit_events(database, "licensing.seat_released")
    assert freed.details["released_by"] == "owner_link"
    assert len(outbox(database, full.owner_email, "seat_freed")) == 1

    # Once: the same link now frees nothing.
    page.goto(full.link)
    expect(page.get_by_role("heading", name="This link no longer works", level=1)).to_be_visible()
    expect(page.get_by_role("button")).to_have_count(0)


def test_the_page_speaks_italian_to_an_italian_browser(
    italian_page: Page,
    api: httpx.Client,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    full = _full_license_and_its_link(api, make_order, database, keyring, language="it")

    italian_page.goto(full.link)
    expect(
        italian_page.get_by_role("heading", name="Libera un posto della tua licenza", level=1)
    ).to_be_visible()
    italian_page.get_by_role(
        "button", name="Libera questo posto: rimuovi la licenza da Office PC"
    ).click()

    expect(italian_page.get_by_role("heading", name="Il posto è libero", level=1)).to_be_visible()
    activate(api, full.code, full.newcomer)


def test_the_link_expires_after_a_day_and_opening_it_changes_nothing(
    api: httpx.Client,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
    clock: Clock,
) -> None:
    full = _full_license_and_its_link(api, make_order, database, keyring)

    opened = api.get(full.link)
    assert opened.status_code == 200
    assert opened.headers["cache-control"] == "no-store"
    assert opened.headers["referrer-policy"] == "no-referrer"
    assert_problem(try_activate(api, full.code, full.newcomer), 409, "device_limit_reached")

    clock.advance(timedelta(hours=24, minutes=1))
    expired = api.get(full.link)
    assert expired.status_code == 404
    assert "This link no longer works" in expired.text
    assert "Free this seat" not in expired.text
