"""One customer never sees, nor touches, another's codes and devices."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from licensor.db import Database
from licensor.models import Activation, Device
from tests.accounts.factories import LinkCode, MakeAccount, OpenBrowser


def _device_id(database: Database, fingerprint: str) -> int:
    with database.transaction() as session:
        return session.scalars(select(Device.id).where(Device.fingerprint == fingerprint)).one()


def _live_seats(database: Database, device_id: int) -> int:
    with database.transaction() as session:
        seats = session.scalars(
            select(Activation).where(
                Activation.device_id == device_id, Activation.released_at.is_(None)
            )
        )
        return len(list(seats))


def test_each_licenses_page_lists_only_its_own_accounts_code(
    make_account: MakeAccount, linked_code: LinkCode, form_browser: OpenBrowser
) -> None:
    ann, bob = make_account(), make_account()
    anns_code, bobs_code = linked_code(ann), linked_code(bob)
    anns_browser, bobs_browser = form_browser(), form_browser()
    anns_browser.sign_in(ann)
    bobs_browser.sign_in(bob)

    anns_page = anns_browser.get("/account/licenses").text
    bobs_page = bobs_browser.get("/account/licenses").text

    assert anns_code.code in anns_page
    assert bobs_code.code not in anns_page
    assert bobs_code.public_id not in anns_page
    assert bobs_code.code in bobs_page
    assert anns_code.code not in bobs_page


def test_each_devices_page_lists_only_its_own_accounts_devices(
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    ann, bob = make_account(), make_account()
    anns_code, bobs_code = linked_code(ann), linked_code(bob)
    anns_browser = form_browser()
    anns_browser.sign_in(ann)

    page = anns_browser.get("/account/devices").text

    assert f"/account/devices/{_device_id(database, anns_code.fingerprint)}/remove" in page
    assert f"/account/devices/{_device_id(database, bobs_code.fingerprint)}/remove" not in page
    assert bobs_code.public_id not in page


def test_removing_another_customers_device_does_nothing_to_it(
    make_account: MakeAccount,
    linked_code: LinkCode,
    form_browser: OpenBrowser,
    database: Database,
    api: httpx.Client,
) -> None:
    ann, bob = make_account(), make_account()
    linked_code(ann)
    bobs_code = linked_code(bob)
    bobs_device = _device_id(database, bobs_code.fingerprint)
    anns_browser = form_browser()
    anns_browser.sign_in(ann)

    answer = anns_browser.post(
        f"/account/devices/{bobs_device}/remove", token=anns_browser.csrf_token("/account/devices")
    )

    assert answer.status_code == 404  # as for an id that does not exist
    assert _live_seats(database, bobs_device) == 1
    with database.transaction() as session:
        assert session.get_one(Device, bobs_device).account_id == bob.id
    still_valid = api.post(
        "/api/v1/licenses/validate",
        json={"license_key": bobs_code.license_key, "fingerprint": bobs_code.fingerprint},
    ).json()
    assert still_valid["valid"] is True
    bobs_browser = form_browser()
    bobs_browser.sign_in(bob)
    assert f"/account/devices/{bobs_device}/remove" in bobs_browser.get("/account/devices").text


def test_removing_ones_own_device_frees_its_seat(
    make_account: MakeAccount, linked_code: LinkCode, form_browser: OpenBrowser, database: Database
) -> None:
    # The control for the test above: the same request on one's own device works.
    ann = make_account()
    anns_code = linked_code(ann)
    anns_device = _device_id(database, anns_code.fingerprint)
    anns_browser = form_browser()
    anns_browser.sign_in(ann)

    answer = anns_browser.post(
        f"/account/devices/{anns_device}/remove", token=anns_browser.csrf_token("/account/devices")
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/devices"
    assert _live_seats(database, anns_device) == 0


def test_adding_another_customers_code_by_hand_is_refused_and_does_not_move_it(
    make_account: MakeAccount, linked_code: LinkCode, form_browser: OpenBrowser
) -> None:
    ann, bob = make_account(), make_account()
    bobs_code = linked_code(bob)
    anns_browser = form_browser()
    anns_browser.sign_in(ann)

    answer = anns_browser.post(
        "/account/licenses",
        {"activation_code": bobs_code.code},
        token=anns_browser.csrf_token("/account/licenses"),
    )

    assert answer.status_code == 422
    assert "contact support" in answer.text
    bobs_browser = form_browser()
    bobs_browser.sign_in(bob)
    assert bobs_code.code in bobs_browser.get("/account/licenses").text
    # The code is echoed back in the form Ann typed it in, but not listed as hers.
    assert f'<code class="activation-code">{bobs_code.code}</code>' not in answer.text
