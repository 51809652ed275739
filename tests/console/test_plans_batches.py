"""Plans and code batches in the console, over HTTP as a browser posts its forms, and the
same rules from ``licensor plans`` and ``licensor codes`` (issue 15)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.models import Plan
from tests.accounts.factories import (
    TOTP_SECRET,
    Browser,
    MakeAccount,
    OpenBrowser,
    two_factor_code,
)
from tests.cli_support import licensor, one_line
from tests.licensing.factories import MakePlan, device, try_activate
from tests.store.factories import MakePartner
from tests.support import audit_events


def staff_browser(
    form_browser: OpenBrowser, make_account: MakeAccount, clock: Clock, role: str = "admin"
) -> Browser:
    """A browser signed in, with two-factor, as a new member of staff."""
    member = make_account(roles=(role,), totp_secret=TOTP_SECRET)
    browser = form_browser()
    browser.sign_in(member)
    done = browser.post("/sign-in/two-factor", {"code": two_factor_code(TOTP_SECRET, clock)})
    assert done.status_code == 303, done.text
    return browser


@pytest.fixture
def admin(form_browser: OpenBrowser, make_account: MakeAccount, clock: Clock) -> Browser:
    return staff_browser(form_browser, make_account, clock)


def _plan(database: Database, code: str) -> Plan:
    with database.transaction() as session:
        plan = session.scalars(select(Plan).where(Plan.code == code)).one()
        session.expunge(plan)
        return plan


def _issue(admin: Browser, run_jobs: Callable[[], None], plan: str, count: int, **more: str) -> int:
    """Issue a batch from the console, let the worker fill it; its number."""
    answer = admin.post(
        "/console/batches", {"plan": plan, "count": str(count), "label": "", **more}, token=None
    )
    assert answer.status_code == 303, answer.text
    match = re.fullmatch(r"/console/batches/(\d+)\?done=started", answer.headers["location"])
    assert match
    run_jobs()
    return int(match.group(1))


def _download(admin: Browser, batch_id: int) -> httpx.Response:
    token = admin.csrf_token(f"/console/batches/{batch_id}")
    return admin.post(f"/console/batches/{batch_id}/csv", token=token)


def _codes(answer: httpx.Response) -> list[str]:
    return [row["activation_code"] for row in csv.DictReader(io.StringIO(answer.text))]


def test_a_plan_is_created_edited_and_retired_in_the_console_and_only_by_admins(
    admin: Browser,
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    clock: Clock,
    database: Database,
) -> None:
    fields = {
        "code": "family",
        "name": "Family",
        "term_days": "365",
        "devices_max": "5",
        "price": "49.90",
        "subscription_price": "",
        "currency": "EUR",
        "entitlements": "VPN, password-manager\nvpn",
    }
    token = admin.csrf_token("/console/plans/new")
    refused = admin.post("/console/plans", fields | {"term_days": "a year"}, token=token)
    assert refused.status_code == 422
    assert "Enter a whole number." in refused.text
    refused = admin.post("/console/plans", fields | {"entitlements": "cloud backup"}, token=token)
    assert refused.status_code == 422
    assert "Use names of lower-case letters" in refused.text

    created = admin.post("/console/plans", fields, token=token)
    assert created.status_code == 303
    assert created.headers["location"] == "/console/plans/family?done=created"
    plan = _plan(database, "family")
    assert (plan.entitlements, plan.price_cents, plan.devices_max) == (
        ["password-manager", "vpn"],
        4990,
        5,
    )
    (made,) = audit_events(database, "plans.created")
    assert (made.actor.startswith("account:"), made.details["entitlements"]) == (
        True,
        ["password-manager", "vpn"],
    )
    listing = admin.get("/console/plans").text
    assert "family" in listing
    assert "Listed" in listing

    edited = admin.post(
        "/console/plans/family",
        {
            "name": "Family",
            "term_days": "730",
            "devices_max": "5",
            "price": "",
            "subscription_price": "",
            "entitlements": "vpn",
        },
        token=admin.csrf_token("/console/plans/family"),
    )
    assert edited.status_code == 303
    plan = _plan(database, "family")
    assert (plan.term_days, plan.price_cents, plan.entitlements) == (730, None, ["vpn"])
    (event,) = audit_events(database, "plans.edited")
    assert event.details["changes"]["entitlements"] == [["password-manager", "vpn"], ["vpn"]]

    retired = admin.post(
        "/console/plans/family/retire", token=admin.csrf_token("/console/plans/family/retire")
    )
    assert retired.status_code == 303
    assert _plan(database, "family").retired_at is not None
    assert len(audit_events(database, "plans.retired")) == 1

    assert "Ritirato il" in admin.get("/console/plans?lang=it").text
    agent = staff_browser(form_browser, make_account, clock, role="agent")
    assert agent.get("/console/plans").status_code == 403
    assert agent.get("/console/batches").status_code == 403


def test_a_plan_s_transfer_limit_is_set_and_lifted_in_the_console(
    admin: Browser, make_plan: MakePlan, database: Database
) -> None:
    make_plan("lab", devices_max=1)
    fields = {"name": "Lab", "term_days": "365", "devices_max": "1", "price": ""}
    fields |= {"subscription_price": "", "entitlements": ""}
    token = admin.csrf_token("/console/plans/lab")
    half = admin.post("/console/plans/lab", fields | {"transfer_limit": "2"}, token=token)
    assert half.status_code == 422
    assert "Give both the number of transfers and the period in days" in half.text

    capped = fields | {"transfer_limit": "2", "transfer_period_days": "30"}
    assert admin.post("/console/plans/lab", capped, token=token).status_code == 303
    plan = _plan(database, "lab")
    assert (plan.transfer_limit, plan.transfer_period_days) == (2, 30)
    assert 'name="transfer_limit" type="number" value="2"' in admin.get("/console/plans/lab").text
    lifted = fields | {"transfer_limit": "", "transfer_period_days": ""}
    assert admin.post("/console/plans/lab", lifted, token=token).status_code == 303
    plan = _plan(database, "lab")
    assert (plan.transfer_limit, plan.transfer_period_days) == (None, None)


def test_a_batch_s_csv_is_handed_out_once_then_once_more_when_an_admin_says_why(
    admin: Browser,
    make_plan: MakePlan,
    run_jobs: Callable[[], None],
    database: Database,
) -> None:
    batch_id = _issue(admin, run_jobs, make_plan("plus"), 12)
    status = admin.get(f"/console/batches/{batch_id}/status").json()
    assert status == {"issued": 12, "count": 12, "done": True, "blocked": False}

    first = _download(admin, batch_id)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/csv")
    assert "attachment" in first.headers["content-disposition"]
    codes = _codes(first)
    assert len(set(codes)) == 12
    assert first.text.startswith("activation_code,")
    (event,) = audit_events(database, "licensing.batch_csv_downloaded")
    assert event.subject_id == batch_id

    second = _download(admin, batch_id)
    assert second.status_code == 409
    assert "was already downloaded" in second.text
    assert codes[0] not in second.text

    path = f"/console/batches/{batch_id}/csv/allow"
    assert admin.post(path, {"reason": " "}, token=None).status_code == 422
    assert admin.post(path, {"reason": "printer lost the file"}, token=None).status_code == 303
    (allowed,) = audit_events(database, "licensing.batch_csv_allowed_again")
    assert allowed.reason == "printer lost the file"
    assert _codes(_download(admin, batch_id)) == codes
    refused = _download(admin, batch_id)
    assert refused.status_code == 409
    italian = admin.get(f"/console/batches/{batch_id}?lang=it").text
    assert "12 codici emessi su 12" in italian


def test_a_blocked_batch_refuses_activation_and_its_licenses_stop_validating(
    admin: Browser,
    make_plan: MakePlan,
    run_jobs: Callable[[], None],
    api: httpx.Client,
    database: Database,
) -> None:
    batch_id = _issue(admin, run_jobs, make_plan("plus"), 3)
    first, second, _third = _codes(_download(admin, batch_id))
    activated = try_activate(api, first, device("Laptop"))
    assert activated.status_code == 201

    path = f"/console/batches/{batch_id}/block"
    token = admin.csrf_token(path)
    assert admin.post(path, {"reason": ""}, token=token).status_code == 422
    assert admin.post(path, {"reason": "grey market"}, token=token).status_code == 303

    refused = try_activate(api, second)
    assert refused.status_code == 403
    assert refused.json()["code"] == "code_blocked"
    answer = api.post(
        "/api/v1/licenses/validate",
        json={
            "license_key": activated.json()["license_key"],
            "fingerprint": device("Laptop")["fingerprint"],
        },
    ).json()
    assert (answer["valid"], answer["status"]) == (False, "blocked")
    (event,) = audit_events(database, "licensing.batch_blocked")
    assert (event.reason, event.details["codes"]) == ("grey market", 3)


def test_a_batch_is_allocated_to_a_partner_only_while_none_of_its_codes_went_anywhere(
    admin: Browser,
    make_plan: MakePlan,
    make_partner: MakePartner,
    run_jobs: Callable[[], None],
    api: httpx.Client,
) -> None:
    plan = make_plan("plus")
    shop = make_partner(name="Shop Torino")
    batch_id = _issue(admin, run_jobs, plan, 2)
    code, _ = _codes(_download(admin, batch_id))
    allocated = admin.post(
        f"/console/batches/{batch_id}/allocate", {"partner": shop.slug}, token=None
    )
    assert allocated.status_code == 303
    assert "Shop Torino" in admin.get(f"/console/batches/{batch_id}").text
    assert try_activate(api, code).json()["code"] == "code_not_sold"

    other = _issue(admin, run_jobs, plan, 2)
    activated, _ = _codes(_download(admin, other))
    assert try_activate(api, activated).status_code == 201
    refused = admin.post(f"/console/batches/{other}/allocate", {"partner": shop.slug}, token=None)
    assert refused.status_code == 409
    assert "sold, linked, activated or blocked" in refused.text


def test_the_cli_shares_the_batch_rules(
    tmp_path: Path,
    settings: Settings,
    make_plan: MakePlan,
    make_partner: MakePartner,
    api: httpx.Client,
) -> None:
    status, out, err = licensor(
        tmp_path, settings, "plans", "create", "--code", "pro", "--name", "Pro",
        "--term-days", "365", "--devices", "2", "--entitlement", "VPN", "--entitlement", "cloud",
    )  # fmt: skip
    assert status == 0, err
    status, out, err = licensor(tmp_path, settings, "plans", "edit", "pro", "--entitlement", "vpn")
    assert status == 0, err
    assert "entitlements: cloud, vpn -> vpn" in one_line(out)

    cards = tmp_path / "cards.csv"
    status, out, err = licensor(
        tmp_path, settings, "codes", "issue", "--plan", "pro", "--count", "3", "--out", str(cards)
    )
    assert status == 0, err
    batch = re.search(r"batch (\d+)", out)
    assert batch
    # Written at issue: the CSV counts as handed out, here as in the console.
    again = tmp_path / "again.csv"
    status, out, err = licensor(
        tmp_path, settings, "codes", "batch-csv", batch.group(1), "--out", str(again)
    )
    assert status == 1
    assert "was downloaded by cli:" in one_line(err)
    assert not again.exists()
    status, out, err = licensor(
        tmp_path, settings, "codes", "batch-csv-allow", batch.group(1), "--reason", "file lost"
    )
    assert status == 0, err
    status, out, err = licensor(
        tmp_path, settings, "codes", "batch-csv", batch.group(1), "--out", str(again)
    )
    assert status == 0, err
    assert again.read_text() == cards.read_text()

    shop = make_partner()
    status, out, err = licensor(
        tmp_path, settings, "codes", "batch-allocate", batch.group(1), "--partner", shop.slug
    )
    assert status == 0, err
    status, out, err = licensor(
        tmp_path, settings, "codes", "batch-block", batch.group(1), "--reason", "stolen"
    )
    assert status == 0, err
    with cards.open(newline="") as handle:
        code = next(csv.DictReader(handle))["activation_code"]
    assert try_activate(api, code).json()["code"] == "code_blocked"
    status, out, err = licensor(tmp_path, settings, "codes", "batches")
    assert status == 0, err
    assert "3/3" in out
    assert "cli:" in out
