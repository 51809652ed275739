"""My Account's license page of a floating license (issue 16, item 2): the owner sees which
device holds each lease, since and until when, and frees one with a form (CSRF, audited);
that device's next heartbeat is refused. Nobody else can free it."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from licensor.db import Database
from licensor.models import Lease
from tests.accounts.factories import MakeAccount, OpenBrowser, link, signed_in
from tests.licensing.factories import MakeFloating, activate, device
from tests.support import audit_events


def test_the_owner_sees_who_holds_each_lease_and_frees_one(
    api: httpx.Client,
    floating_code: MakeFloating,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    owner = make_account()
    code = floating_code(leases=3)
    studio, laptop = device("Studio iMac"), device("Travel laptop")
    answer = activate(api, code, studio)
    activate(api, code, laptop)
    public_id, key = answer["public_id"], answer["license_key"]
    assert link(api, owner, key, studio["fingerprint"]).status_code == 200
    browser = signed_in(form_browser, owner)

    page = browser.get(f"/account/licenses/{public_id}")

    assert page.status_code == 200
    assert "Seats in use now" in page.text
    assert "Studio iMac" in page.text
    assert "Travel laptop" in page.text
    [lease_id] = re.findall(
        r'name="lease_id" value="(\d+)">\s*<button[^>]*>Free the seat of Studio iMac', page.text
    )
    path = f"/account/licenses/{public_id}/leases/free"

    forged = browser.post(path, {"lease_id": lease_id}, token="")
    assert forged.status_code == 403  # no CSRF token: refused, nothing freed
    stranger = signed_in(form_browser, make_account())
    assert stranger.post(path, {"lease_id": lease_id}).status_code == 404

    freed = browser.post(path, {"lease_id": lease_id})

    assert freed.status_code == 303
    after = browser.get(freed.headers["location"])
    assert "The seat is free: another device can use the license now." in after.text
    assert "Free the seat of Studio iMac" not in after.text
    assert "Free the seat of Travel laptop" in after.text
    assert "1 of 3" in after.text  # the leases held count, not the two devices
    heartbeat = api.post(
        "/api/v1/leases/heartbeat",
        json={"license_key": key, "fingerprint": studio["fingerprint"]},
    )
    assert heartbeat.status_code == 409
    assert heartbeat.json()["code"] == "lease_not_held"
    [event] = audit_events(database, "licensing.lease_freed")
    assert event.actor == f"account:{owner.id}"
    assert event.details["by"] == "owner"
    with database.transaction() as session:
        live = session.scalar(select(func.count(Lease.id)).where(Lease.released_at.is_(None)))
    assert live == 1


def test_a_lease_id_of_odd_digits_is_not_found_rather_than_an_error(
    api: httpx.Client,
    floating_code: MakeFloating,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
) -> None:
    owner = make_account()
    machine = device("Studio iMac")
    answer = activate(api, floating_code(leases=2), machine)
    assert link(api, owner, answer["license_key"], machine["fingerprint"]).status_code == 200
    browser = signed_in(form_browser, owner)
    path = f"/account/licenses/{answer['public_id']}/leases/free"

    # str.isdigit() is true of each, but int() takes none of them.
    for odd in ("²", "9" * 5000, "1²"):
        assert browser.post(path, {"lease_id": odd}).status_code == 404, odd
