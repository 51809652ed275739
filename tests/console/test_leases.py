"""The console's license page of a floating license (issue 16, item 2): an agent sees the
leases and frees one with a reason (audited); the device's next heartbeat is refused. The
Plans section makes a plan floating."""

from __future__ import annotations

import re

import httpx

from licensor.db import Database
from tests.licensing.factories import MakeFloating, activate, device
from tests.support import audit_events
from tests.support.factories import SignInStaff


def test_an_agent_sees_the_leases_and_frees_one_with_a_reason(
    api: httpx.Client, floating_code: MakeFloating, sign_in_staff: SignInStaff, database: Database
) -> None:
    machine = device("Render node 7")
    answer = activate(api, floating_code(leases=2), machine)
    public_id, key = answer["public_id"], answer["license_key"]
    agent, _ = sign_in_staff("agent")

    page = agent.get(f"/console/licenses/{public_id}")

    assert page.status_code == 200
    assert "Floating leases" in page.text
    assert '<dd id="leases-used">1 of 2</dd>' in page.text
    assert "Render node 7" in page.text
    lease_id = re.search(r'name="lease_id" value="(\d+)"', page.text)
    assert lease_id
    path = f"/console/licenses/{public_id}/leases/free"
    no_reason = agent.post(path, {"lease_id": lease_id[1]})
    assert no_reason.status_code == 422
    assert "This field is required." in no_reason.text

    freed = agent.post(path, {"lease_id": lease_id[1], "reason": "crashed holding it"})

    assert freed.status_code == 303, freed.text
    after = agent.get(freed.headers["location"])
    assert "The lease is freed: another device can take it now." in after.text
    assert "No device holds a lease now." in after.text
    heartbeat = api.post(
        "/api/v1/leases/heartbeat", json={"license_key": key, "fingerprint": machine["fingerprint"]}
    )
    assert heartbeat.json()["code"] == "lease_not_held"
    [event] = audit_events(database, "licensing.lease_freed")
    assert (event.reason, event.details["by"]) == ("crashed holding it", "staff")


def test_an_admin_makes_a_plan_floating_in_the_plans_section(
    sign_in_staff: SignInStaff,
) -> None:
    admin, _ = sign_in_staff("admin")
    fields = {
        "code": "lab",
        "name": "Lab",
        "term_days": "365",
        "devices_max": "5",
        "currency": "EUR",
        "lease_seconds": "30",
    }
    too_short = admin.post("/console/plans", fields)
    assert too_short.status_code == 422
    assert "Enter a lease from 60 to 86,400 seconds, or leave it empty." in too_short.text

    made = admin.post("/console/plans", {**fields, "lease_seconds": "900"})

    assert made.status_code == 303, made.text
    plan = admin.get("/console/plans/lab")
    assert 'name="lease_seconds"' in plan.text
    assert 'value="900"' in plan.text
    assert "floating: 900 s leases" in admin.get("/console/plans").text
