"""A reserve code on My Account's license page, over HTTP as a browser posts the forms:
the code in full with when it starts, "Withdraw" behind a confirmation (CSRF), the form
that adds one with its refusal beside the field; another account's license is a 404."""

from __future__ import annotations

from datetime import timedelta

import httpx

from licensor.clock import Clock
from licensor.db import Database
from licensor.licensing import formats
from tests.accounts.factories import LinkCode, MakeAccount, OpenBrowser, signed_in
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, validate
from tests.support import audit_events
from tests.support.factories import SignInStaff


def test_the_owner_sees_the_reserve_withdraws_it_and_adds_one_again(
    api: httpx.Client,
    database: Database,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_code: MakeCode,
    form_browser: OpenBrowser,
) -> None:
    owner = make_account()
    linked = linked_code(owner)
    spare = make_code("plus")
    added = api.post(
        "/api/v1/licenses/reserve",
        json={
            "license_key": linked.license_key,
            "fingerprint": linked.fingerprint,
            "activation_code": spare,
        },
    )
    assert added.status_code == 201, added.text
    browser = signed_in(form_browser, owner)
    address = f"/account/licenses/{linked.public_id}"

    page = browser.get(address)
    assert page.status_code == 200
    assert "Reserve code" in page.text
    assert formats.format_code(formats.normalize_code(spare)) in page.text  # in full
    assert "the reserve code starts then and runs to" in page.text
    assert f'href="{address}/reserve/withdraw"' in page.text

    confirm = browser.get(f"{address}/reserve/withdraw")
    assert confirm.status_code == 200
    assert "Withdraw the reserve code?" in confirm.text
    assert browser.post(f"{address}/reserve/withdraw", token="").status_code == 403  # CSRF
    withdrawn = browser.post(
        f"{address}/reserve/withdraw", token=browser.csrf_token(f"{address}/reserve/withdraw")
    )
    assert withdrawn.status_code == 303, withdrawn.text
    assert withdrawn.headers["location"] == f"{address}?done=reserve_withdrawn"
    after = browser.get(withdrawn.headers["location"]).text
    assert "The reserve code was withdrawn" in after
    assert 'name="activation_code"' in after  # the form to add one is back
    [event] = audit_events(database, "license.reserve_withdrawn")
    assert event.actor == owner.email
    first_end = validate(api, linked.license_key, linked.fingerprint)["expires_at"]

    refused = browser.post(
        f"{address}/reserve",
        {"activation_code": make_code("premium")},
        token=browser.csrf_token(address),
    )
    assert refused.status_code == 422
    assert "A reserve code must be of the same plan as this license." in refused.text
    assert 'aria-describedby="reserve_code-error"' in refused.text

    again = browser.post(
        f"{address}/reserve", {"activation_code": spare}, token=browser.csrf_token(address)
    )
    assert again.status_code == 303, again.text
    assert "The reserve code was added" in browser.get(again.headers["location"]).text
    assert validate(api, linked.license_key, linked.fingerprint)["reserve_starts_at"] == first_end
    # Entered on the owner's page, the code joins the account: listed with what it does.
    listed = browser.get("/account/licenses").text
    assert formats.format_code(formats.normalize_code(spare)) in listed
    assert f"In reserve for license {linked.public_id}: it extends that license" in listed


def test_another_accounts_license_takes_no_reserve_from_here(
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_code: MakeCode,
    form_browser: OpenBrowser,
) -> None:
    linked = linked_code(make_account())
    stranger = signed_in(form_browser, make_account())
    address = f"/account/licenses/{linked.public_id}"
    posted = stranger.post(
        f"{address}/reserve",
        {"activation_code": make_code("plus")},
        token=stranger.csrf_token("/account/licenses"),
    )
    assert posted.status_code == 404
    assert stranger.get(f"{address}/reserve/withdraw").status_code == 404


def test_the_console_shows_a_licenses_reserve(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_code: MakeCode,
    sign_in_staff: SignInStaff,
) -> None:
    linked = linked_code(make_account())
    added = api.post(
        "/api/v1/licenses/reserve",
        json={
            "license_key": linked.license_key,
            "fingerprint": linked.fingerprint,
            "activation_code": make_code("plus"),
        },
    )
    assert added.status_code == 201, added.text
    agent, _ = sign_in_staff("agent")
    page = agent.get(f"/console/licenses/{linked.public_id}").text
    assert 'id="license-reserve"' in page
    assert "Kept in reserve" in page
    assert "the owner can still withdraw it" in page


def test_a_started_reserve_gives_way_to_the_next_and_another_accounts_code_is_masked(
    api: httpx.Client,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_code: MakeCode,
    form_browser: OpenBrowser,
    open_unit: OpenUnit,
    clock: Clock,
) -> None:
    owner, giver = make_account(), make_account()
    linked = linked_code(owner)
    spare = make_code("plus")
    with open_unit() as unit:
        unit.codes.find_code(spare).account_id = giver.id  # bought by someone else
    added = api.post(
        "/api/v1/licenses/reserve",
        json={
            "license_key": linked.license_key,
            "fingerprint": linked.fingerprint,
            "activation_code": spare,
        },
    )
    assert added.status_code == 201, added.text
    browser = signed_in(form_browser, owner)
    address = f"/account/licenses/{linked.public_id}"

    page = browser.get(address).text
    # Entered from a device holding the license; the code is another account's, and the
    # page must not hand it to this one in full.
    assert formats.format_code(formats.normalize_code(spare)) not in page
    assert formats.mask_code(formats.normalize_code(spare)) in page

    clock.advance(timedelta(days=400))  # the reserve runs now: it is the term
    later = signed_in(form_browser, owner).get(address).text
    assert 'name="activation_code"' in later  # the next year's code can be kept in reserve
