"""The page behind the mailed link that frees a seat (issue 14, item 12), in Chromium: the
owner opens it from the mail, frees the seat of a device they no longer use, and the new
device activates; the link works once, and not after a day."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from licensor.clock import Clock
from licensor.db import Database
from licensor.keys import Keyring
from tests.accounts.factories import OpenBrowser, link_in_mail, outbox
from tests.licensing.factories import (
    activate,
    device,
    request_release_link,
    try_activate,
    validate,
)
from tests.store.factories import MakeOrder
from tests.support import assert_problem, audit_events
from tests.web.accessibility import axe_script


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


def _seat_field(page_text: str, device_name: str) -> str:
    """The hidden seat reference of the form whose button names ``device_name``."""
    for form in page_text.split("<form")[1:]:
        if device_name in form:
            match = re.search(r'name="seat" value="([^"]+)"', form)
            assert match, form
            return match.group(1)
    raise AssertionError(f"no form for {device_name}")


def test_a_seat_freed_meanwhile_leaves_the_link_good_for_another(
    form_browser: OpenBrowser,
    api: httpx.Client,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    full = _full_license_and_its_link(api, make_order, database, keyring)
    browser = form_browser()
    choice = browser.get(full.link)
    old_pc = _seat_field(choice.text, "Old PC")
    released = api.post(
        "/api/v1/activations/release",
        json={
            "license_key": full.license_key,
            "fingerprint": full.machines["Old PC"]["fingerprint"],
        },
    )
    assert released.status_code == 200

    stale = browser.post(full.link, {"seat": old_pc}, token=browser.csrf_token(full.link))

    assert stale.status_code == 409
    assert "That device no longer holds a seat. Choose another one." in stale.text
    assert "Old PC" not in stale.text
    laptop = _seat_field(stale.text, "Laptop")
    freed = browser.post(full.link, {"seat": laptop}, token=browser.csrf_token(full.link))
    assert freed.status_code == 303
    assert freed.headers["location"] == "/seat-release/done"


@pytest.mark.postgres_only
def test_two_clicks_at_once_free_one_seat(
    form_browser: OpenBrowser,
    api: httpx.Client,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    full = _full_license_and_its_link(api, make_order, database, keyring)
    browsers = [form_browser() for _ in range(2)]
    forms = []
    for browser, name in zip(browsers, ("Old PC", "Laptop"), strict=True):
        choice = browser.get(full.link)
        forms.append((browser, _seat_field(choice.text, name), browser.csrf_token(full.link)))

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(lambda form: form[0].post(full.link, {"seat": form[1]}, token=form[2]), forms)
        )

    assert sorted(answer.status_code for answer in answers) == [303, 410]
    assert len(audit_events(database, "licensing.seat_released")) == 1
    assert activate(api, full.code, full.newcomer)["devices_used"] == 3


def _axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is, at a phone's width and a
    laptop's (as tests/web/accessibility.py checks the pages a crawl reaches; no link
    reaches these, so they are checked here)."""
    page.add_script_tag(path=str(axe_script()))
    found = []
    for width, height in ((390, 844), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        results = page.evaluate(
            """() => axe.run(document, {runOnly: {type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']})"""
        )
        found += [f"{width} px: {rule['id']} {rule['help']}" for rule in results["violations"]]
    return found


def test_the_pages_pass_axe_at_a_phones_and_a_laptops_width(
    browser: Browser,
    server: str,
    api: httpx.Client,
    make_order: MakeOrder,
    database: Database,
    keyring: Keyring,
) -> None:
    full = _full_license_and_its_link(api, make_order, database, keyring)
    context = browser.new_context(base_url=server, locale="en-GB", bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(full.link)
        assert _axe_violations(page) == []
        page.get_by_role("button", name="Free this seat: remove the license from Laptop").click()
        expect(page.get_by_role("heading", name="The seat is free", level=1)).to_be_visible()
        assert _axe_violations(page) == []
        page.goto(full.link)
        expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()
        assert _axe_violations(page) == []
    finally:
        context.close()
