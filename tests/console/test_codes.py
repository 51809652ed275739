"""The console's codes and licenses over HTTP (agents and admins signed in with two-factor),
and ``licensor codes unblock`` / ``licensor licenses …`` as the vendor runs them: each
action audited with its reason, the owner told where a seat or a term changes, and the
device's validation answer following."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.models import Order
from tests.accounts.factories import outbox
from tests.cli_support import cli_environment, run
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, activate, device, validate
from tests.store.factories import MakeOrder
from tests.support import audit_events
from tests.support.factories import SignInStaff


def _code_id(page: str) -> int:
    match = re.search(r'href="/console/codes/(\d+)"', page)
    assert match, page
    return int(match.group(1))


def test_an_agent_finds_a_code_releases_a_seat_and_blocks_it_but_cannot_unblock_or_extend(
    api: httpx.Client,
    make_order: MakeOrder,
    sign_in_staff: SignInStaff,
    database: Database,
) -> None:
    order = make_order("plus")
    code = order.codes[0]
    home, office = device("Home PC"), device("Office PC")
    first = activate(api, code, home)
    activate(api, code, office)
    public_id, key = first["public_id"], first["license_key"]
    agent, _ = sign_in_staff("agent")

    found = agent.get("/console/codes?" + urlencode({"q": code.lower().replace("-", " ")}))
    assert found.status_code == 200, found.text
    assert formats.mask_code(formats.normalize_code(code)) in found.text
    assert formats.normalize_code(code)[:10] not in found.text.replace("-", "")
    assert public_id in found.text
    assert order.number in found.text
    for query in (key, public_id, order.email, order.number):
        by = agent.get("/console/codes?" + urlencode({"q": query}))
        assert by.status_code == 200, by.text
        assert f"/console/codes/{_code_id(found.text)}" in by.text, query

    license_page = agent.get(f"/console/licenses/{public_id}")
    assert license_page.status_code == 200
    assert "Only an admin can extend a term" in license_page.text
    assert 'action="/console/licenses/' + public_id + '/extend"' not in license_page.text
    seat = re.search(r'name="activation_id" value="(\d+)"', license_page.text)
    assert seat

    no_reason = agent.post(f"/console/licenses/{public_id}/release", {"activation_id": seat[1]})
    assert no_reason.status_code == 422
    assert "This field is required." in no_reason.text
    released = agent.post(
        f"/console/licenses/{public_id}/release",
        {"activation_id": seat[1], "reason": "customer sold the old PC"},
    )
    assert released.status_code == 303, released.text
    assert validate(api, key, home["fingerprint"])["status"] == "released"
    assert validate(api, key, office["fingerprint"])["valid"] is True
    [mail] = outbox(database, order.email, "license_notice")
    assert mail.subject == f"Your Plus license {public_id}: a device seat was freed"

    code_id = _code_id(found.text)
    unconfirmed = agent.post(f"/console/codes/{code_id}/block", {"reason": "leaked on a forum"})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm." in unconfirmed.text
    blocked = agent.post(
        f"/console/codes/{code_id}/block", {"reason": "leaked on a forum", "confirm": "yes"}
    )
    assert blocked.status_code == 303
    assert validate(api, key, office["fingerprint"])["status"] == "blocked"
    code_page = agent.get(f"/console/codes/{code_id}")
    assert "Only an admin can unblock a code" in code_page.text
    assert "leaked on a forum" in code_page.text  # the history, with its reason

    assert agent.post(f"/console/codes/{code_id}/unblock", {"reason": "x"}).status_code == 403
    extend = agent.post(f"/console/licenses/{public_id}/extend", {"days": "30", "reason": "x"})
    assert extend.status_code == 403
    assert validate(api, key, office["fingerprint"])["status"] == "blocked"
    [seats] = audit_events(database, "licensing.seats_released")
    assert seats.reason == "customer sold the old PC"
    assert seats.actor.startswith("account:")
    [block] = audit_events(database, "licensing.code_blocked")
    assert block.reason == "leaked on a forum"


def test_an_admin_unblocks_a_code_and_extends_its_term(
    api: httpx.Client,
    make_code: MakeCode,
    block_code: object,
    sign_in_staff: SignInStaff,
    open_unit: OpenUnit,
    database: Database,
) -> None:
    code = make_code("plus")
    machine = device()
    activated = activate(api, code, machine)
    key, public_id = activated["license_key"], activated["public_id"]
    with open_unit() as unit:
        code_id = unit.codes.find_code(code).id
        unit.codes.block_code(code, reason="chargeback", actor="admin@example.com")
    admin, _ = sign_in_staff("admin")

    missing = admin.post(f"/console/codes/{code_id}/unblock", {"reason": " "})
    assert missing.status_code == 422
    assert "This field is required." in missing.text
    unblocked = admin.post(f"/console/codes/{code_id}/unblock", {"reason": "chargeback won"})
    assert unblocked.status_code == 303
    assert validate(api, key, machine["fingerprint"])["valid"] is True

    before = validate(api, key, machine["fingerprint"])["expires_at"]
    both = admin.post(
        f"/console/licenses/{public_id}/extend",
        {"days": "", "until": "", "reason": "goodwill"},
    )
    assert both.status_code == 422
    assert "Give either a number of days or a new end date." in both.text
    extended = admin.post(
        f"/console/licenses/{public_id}/extend", {"days": "30", "reason": "goodwill"}
    )
    assert extended.status_code == 303, extended.text
    after = validate(api, key, machine["fingerprint"])
    assert after["expires_at"] > before
    assert after["license_file"]["payload"]["expires_at"] == after["expires_at"]
    earlier = admin.post(
        f"/console/licenses/{public_id}/extend", {"until": "2020-01-01", "reason": "typo"}
    )
    assert earlier.status_code == 422
    assert "Choose a day after the current end of the term" in earlier.text
    new_end = date.fromisoformat(after["expires_at"][:10]) + timedelta(days=100)
    to_day = admin.post(
        f"/console/licenses/{public_id}/extend",
        {"until": new_end.isoformat(), "reason": "contract renewed"},
    )
    assert to_day.status_code == 303, to_day.text
    assert validate(api, key, machine["fingerprint"])["expires_at"][:10] == new_end.isoformat()
    assert [e.reason for e in audit_events(database, "licensing.term_extended")] == [
        "goodwill",
        "contract renewed",
    ]
    assert [e.reason for e in audit_events(database, "licensing.code_unblocked")] == [
        "chargeback won"
    ]


def test_a_refunded_orders_code_and_a_replaced_code_stay_blocked(
    api: httpx.Client,
    make_order: MakeOrder,
    make_code: MakeCode,
    sign_in_staff: SignInStaff,
    open_unit: OpenUnit,
) -> None:
    order = make_order("plus")
    replaced = make_code("basic")
    activate(api, replaced, device())
    with open_unit() as unit:
        row = unit.session.scalar(
            select(Order).where(Order.number == order.number).with_for_update()
        )
        assert row is not None
        unit.orders.mark_refunded(row, reason="refund", actor="admin@example.com")
        refunded_id = unit.codes.find_code(order.codes[0]).id
        old = unit.codes.find_code(replaced, lock=True)
        unit.codes.replace(old, reason="leaked", actor="admin@example.com")
        replaced_id = old.id
    admin, _ = sign_in_staff("admin")

    refunded = admin.post(f"/console/codes/{refunded_id}/unblock", {"reason": "asked nicely"})
    swapped = admin.post(f"/console/codes/{replaced_id}/unblock", {"reason": "asked nicely"})

    assert refunded.status_code == 409
    assert "order was refunded" in refunded.text
    assert swapped.status_code == 409
    assert "replaced by another" in swapped.text
    assert "Blocked" in admin.get(f"/console/codes/{refunded_id}").text
    assert "Blocked" in admin.get(f"/console/codes/{replaced_id}").text


def test_the_cli_unblocks_shows_extends_and_releases(
    api: httpx.Client,
    make_code: MakeCode,
    block_code: object,
    settings: Settings,
    keyring: Keyring,
    database: Database,
    tmp_path: Path,
) -> None:
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)

    def licensor(*args: str) -> subprocess.CompletedProcess[str]:
        return run("licensor", *args, environment=environment, cwd=tmp_path)

    code = make_code("plus")
    machine = device()
    activated = activate(api, code, machine)
    public_id, key = activated["public_id"], activated["license_key"]
    licensor("codes", "block", code, "--reason", "fraud check")

    unblocked = licensor("codes", "unblock", code, "--reason", "cleared")
    shown = licensor("licenses", "show", public_id.lower())
    extended = licensor("licenses", "extend", public_id, "--days", "10", "--reason", "outage")
    released = licensor(
        "licenses", "release", public_id, "--device", machine["fingerprint"], "--reason", "moved"
    )

    assert unblocked.returncode == 0, unblocked.stderr
    assert "unblocked" in unblocked.stdout
    assert code not in unblocked.stdout
    assert shown.returncode == 0, shown.stderr
    assert public_id in shown.stdout
    assert code not in shown.stdout
    assert key not in shown.stdout
    assert extended.returncode == 0, extended.stderr
    assert released.returncode == 0, released.stderr
    assert "1 seat released" in released.stdout
    assert validate(api, key, machine["fingerprint"])["status"] == "released"
    assert [e.reason for e in audit_events(database, "licensing.term_extended")] == ["outage"]
    assert [e.actor[:4] for e in audit_events(database, "licensing.seats_released")] == ["cli:"]


def test_an_admin_sets_a_license_device_limit_and_an_agent_grants_a_transfer(
    api: httpx.Client,
    make_code: MakeCode,
    sign_in_staff: SignInStaff,
    open_unit: OpenUnit,
    database: Database,
) -> None:
    code = make_code("lab", devices_max=1)
    with open_unit() as unit:
        unit.plans.edit("lab", transfer_limit=0, transfer_period_days=7)
    first, second = device("Lab 1"), device("Lab 2")
    activated = activate(api, code, first)
    public_id, key = activated["public_id"], activated["license_key"]
    admin, _ = sign_in_staff("admin")
    agent, _ = sign_in_staff("agent")

    assert "Only an admin can change a license" in agent.get(f"/console/licenses/{public_id}").text
    assert agent.post(f"/console/licenses/{public_id}/devices", {"devices": "3"}).status_code == 403
    no_reason = admin.post(f"/console/licenses/{public_id}/devices", {"devices": "2"})
    assert no_reason.status_code == 422
    assert "This field is required." in no_reason.text
    set_to = admin.post(
        f"/console/licenses/{public_id}/devices", {"devices": "2", "reason": "second lab PC"}
    )
    assert set_to.status_code == 303, set_to.text
    page = admin.get(set_to.headers["location"]).text
    assert "The device limit is changed." in page
    assert "own limit: 2 devices" in page
    assert validate(api, key, first["fingerprint"])["devices_max"] == 2
    activate(api, code, second)

    # No transfer at all on this plan: a freed seat is not retaken by a new device...
    api.post(
        "/api/v1/activations/release",
        json={"license_key": key, "fingerprint": second["fingerprint"]},
    ).raise_for_status()
    third = device("Lab 3")
    refused = api.post("/api/v1/activations", json={"activation_code": code, "device": third})
    assert refused.status_code == 409
    assert refused.json()["code"] == "transfer_limit_reached"
    # ... until support grants one.
    assert "0 left now" in agent.get(f"/console/licenses/{public_id}").text
    granted = agent.post(
        f"/console/licenses/{public_id}/grant-transfer", {"reason": "lab PC replaced"}
    )
    assert granted.status_code == 303, granted.text
    assert "One more transfer is granted" in agent.get(granted.headers["location"]).text
    activate(api, code, third)
    assert [e.reason for e in audit_events(database, "licensing.devices_set")] == ["second lab PC"]
    assert [e.reason for e in audit_events(database, "licensing.transfer_granted")] == [
        "lab PC replaced"
    ]


def test_an_agent_grants_a_transfer_from_the_desk(
    api: httpx.Client, make_code: MakeCode, sign_in_staff: SignInStaff, open_unit: OpenUnit
) -> None:
    code = make_code("kiosk", devices_max=1)
    with open_unit() as unit:
        unit.plans.edit("kiosk", transfer_limit=0, transfer_period_days=7)
    first = device("Kiosk 1")
    activated = activate(api, code, first)
    public_id, key = activated["public_id"], activated["license_key"]
    api.post(
        "/api/v1/activations/release",
        json={"license_key": key, "fingerprint": first["fingerprint"]},
    ).raise_for_status()
    agent, _ = sign_in_staff("agent")

    assert "0 left now" in agent.get(f"/desk/licenses/{public_id}").text
    no_reason = agent.post(f"/desk/licenses/{public_id}/grant-transfer", {"reason": ""})
    assert no_reason.status_code == 422
    assert "This field is required." in no_reason.text
    granted = agent.post(f"/desk/licenses/{public_id}/grant-transfer", {"reason": "new kiosk"})
    assert granted.status_code == 303, granted.text
    assert granted.headers["location"] == f"/desk/licenses/{public_id}?done=transfer_granted"
    assert "One more transfer is granted" in agent.get(granted.headers["location"]).text
    activate(api, code, device("Kiosk 2"))
