"""The audit log as admins read it: /console/audit's filters and pages over HTTP, its CSV
export (audited, formula cells guarded), and ``licensor audit list``."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from tests.accounts.factories import TOTP_SECRET, Browser, Customer, MakeAccount, OpenBrowser
from tests.accounts.test_staff import staff_browser
from tests.cli_support import cli_environment, run
from tests.conftest import OpenUnit
from tests.support import audit_events


@pytest.fixture
def admin(make_account: MakeAccount) -> Customer:
    return make_account("auditor@example.com", roles=("admin",), totp_secret=TOTP_SECRET)


@pytest.fixture
def trail(open_unit: OpenUnit, clock: Clock, admin: Customer) -> None:
    """60 refunds by the admin three days ago, then a block by the CLI with a reason a
    spreadsheet would run as a formula."""
    with open_unit(actor=f"account:{admin.id}") as unit:
        for number in range(60):
            unit.audit("store.order_refunded", subject_type="order", subject_id=number + 1)
    clock.advance(timedelta(days=3))
    with open_unit(actor="cli:vendor") as unit:
        unit.audit(
            "licensing.code_blocked",
            subject_type="activation_code",
            subject_id=7,
            reason='=HYPERLINK("http://evil.example")',
            note="leaked",
        )


def _rows(browser: Browser, query: str) -> int:
    """How many events the page lists (none: no table at all)."""
    return max(browser.get(f"/console/audit?{query}").text.count("<tr>") - 1, 0)


def test_admins_filter_the_log_and_page_back_by_keyset(
    form_browser: OpenBrowser, admin: Customer, trail: None, clock: Clock, make_account: MakeAccount
) -> None:
    browser = staff_browser(form_browser, admin, clock)

    newest = browser.get("/console/audit?action=licensing.")
    assert newest.status_code == 200
    assert "licensing.code_blocked" in newest.text
    assert 'href="/console/codes/7"' in newest.text
    assert _rows(browser, "action=licensing.") == 1
    assert _rows(browser, f"actor_email={admin.email}&action=store.order_refunded") == 50
    first = browser.get(f"/console/audit?actor=account:{admin.id}")
    older = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert "before=" in older
    assert browser.get(older.replace("&amp;", "&")).text.count("<tr>") - 1 == 10
    today = clock.now().date()
    assert _rows(browser, f"since={today.isoformat()}&actor=cli:vendor") == 1
    yesterday = (today - timedelta(days=1)).isoformat()
    assert _rows(browser, f"until={yesterday}&action=licensing.") == 0
    assert _rows(browser, f"since={yesterday}&action=store.order_refunded") == 0
    assert _rows(browser, "subject_type=order&subject_id=3") == 1
    bad = browser.get("/console/audit?since=someday&subject_id=x")
    assert bad.status_code == 422
    assert 'id="since-error"' in bad.text
    assert 'id="subject_id-error"' in bad.text

    agent = make_account(roles=("agent",), totp_secret=TOTP_SECRET)
    assert staff_browser(form_browser, agent, clock).get("/console/audit").status_code == 403


def test_the_csv_export_streams_the_filtered_rows_guarded_and_is_audited(
    form_browser: OpenBrowser, admin: Customer, trail: None, clock: Clock, database: Database
) -> None:
    browser = staff_browser(form_browser, admin, clock)

    answer = browser.post(
        "/console/audit/export",
        {"action": "licensing.", "subject_type": "activation_code"},
        token=browser.csrf_token("/console/audit"),
    )

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:5] == ["id", "occurred_at", "actor", "actor_email", "action"]
    assert len(rows) == 2
    assert rows[1][4] == "licensing.code_blocked"
    assert rows[1][7] == '\'=HYPERLINK("http://evil.example")'
    assert rows[1][8] == '{"note": "leaked"}'
    assert rows[1][1].endswith("Z")
    (exported,) = audit_events(database, "audit.exported")
    assert exported.actor == f"account:{admin.id}"
    assert exported.details["filter"] == {"action": "licensing.", "subject_type": "activation_code"}


def _licensor(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)
    environment.update(COLUMNS="200")
    return run("licensor", *args, environment=environment, cwd=tmp_path)


def test_licensor_audit_list_filters_limits_and_writes_csv(
    settings: Settings, tmp_path: Path, trail: None, admin: Customer, database: Database
) -> None:
    listed = _licensor(settings, tmp_path, "audit", "list", "--subject", "activation_code:7")
    assert listed.returncode == 0, listed.stderr
    assert "licensing.code_blocked" in listed.stdout
    assert "store.order_refunded" not in listed.stdout
    limited = _licensor(settings, tmp_path, "audit", "list", "--action", "store.", "--limit", "5")
    assert limited.stdout.count("store.order_refunded") == 5
    assert f"account:{admin.id} ({admin.email})" in limited.stdout

    target = tmp_path / "audit.csv"
    written = _licensor(
        settings, tmp_path, "audit", "list", "--actor", f"account:{admin.id}", "--csv", str(target)
    )
    assert written.returncode == 0, written.stderr
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == 61  # the header and every refund, beyond a page
    assert audit_events(database, "audit.exported")[0].actor.startswith("cli:")
    refused = _licensor(settings, tmp_path, "audit", "list", "--since", "yesterday")
    assert refused.returncode == 1
