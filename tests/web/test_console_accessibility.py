"""Every page of the vendor console passes axe-core's WCAG 2.1 A and AA rules (at 1280 px,
where a vendor works, and at 390 px too), with something in every section: a plan, a batch
being downloaded, a customer with a license and an order, a refunded order, a partner with
an API key, a pending staff invitation, a support request. Pages are found by following
the console's links from /console (pages outside it are the other crawls'), plus the pages
only a search or a mailed link reaches and each form's error state. The pages are the same
on every database: checked on the SQLite run."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser

from licensor.clock import Clock
from licensor.config import Settings
from tests.accounts.factories import (
    TOTP_SECRET,
    LinkCode,
    MakeAccount,
    fresh_email,
    two_factor_code,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan, activate, device
from tests.store.factories import MakeOrder, MakePartner
from tests.support.factories import MakeRequest, png_bytes
from tests.web.accessibility import Audit, axe_script, visitor
from tests.web.test_accessibility import passes, sign_in_through_the_form

pytestmark = pytest.mark.slow

OUTSIDE_THE_CONSOLE = re.compile(r"^(?!/console(/|$))")


@pytest.fixture(autouse=True)
def _sqlite_run_only() -> None:
    if os.environ.get("LICENSOR_TEST_DATABASE_URL"):
        pytest.skip("the pages are the same on every database: checked on the SQLite run")


@pytest.fixture
def audit(browser: Browser, server: str) -> Iterator[Audit]:
    with visitor(browser, server, axe_script()) as audit:
        yield audit


def test_every_console_page_passes_axe(
    audit: Audit,
    make_account: MakeAccount,
    make_plan: MakePlan,
    linked_code: LinkCode,
    make_order: MakeOrder,
    make_partner: MakePartner,
    make_request: MakeRequest,
    api: httpx.Client,
    clock: Clock,
    run_jobs: object,
    open_unit: OpenUnit,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_plan("family", price_cents=3999, subscription_price_cents=999)
    # Webhooks: an endpoint where nothing answers, so its deliveries show an error.
    monkeypatch.setattr(settings, "webhooks_allow_private", True)
    with open_unit() as unit:
        hooks = unit.webhooks.create("http://127.0.0.1:9/hooks", ["license.activated"])[0].id
    customer = make_account(fresh_email("customer"))
    linked = linked_code(customer)
    activate(api, linked.code, device("Office PC"))
    order = make_order("plus", email=customer.email, account_id=customer.id)
    refunded = make_order("plus", email=fresh_email("buyer"))
    make_request(email=customer.email, account_id=customer.id, screenshot=png_bytes())
    partner = make_partner(name="Shop Milano", phone="+39 02 1234 5678")
    admin = make_account(fresh_email("admin"), roles=("agent", "admin"), totp_secret=TOTP_SECRET)

    page = audit.page
    sign_in_through_the_form(page, admin.email, admin.password)
    clock.advance(timedelta(seconds=60))
    page.locator('input[name="code"]').fill(two_factor_code(TOTP_SECRET, clock))
    with page.expect_navigation():
        page.locator('form[action="/sign-in/two-factor"] button').click()

    # What the sections hold beyond the factories' rows, made through the console itself.
    page.goto("/console/batches")
    issue = page.locator('form[action="/console/batches"]')
    issue.locator('select[name="plan"]').select_option("plus")
    issue.locator('input[name="count"]').fill("3")
    issue.locator('input[name="label"]').fill("Retail cards")
    with page.expect_navigation():
        issue.get_by_role("button", name="Issue codes").click()
    batch_page = page.url.removeprefix(audit.origin)
    run_jobs()  # type: ignore[operator]
    page.goto(f"/console/partners/{partner.slug}")
    with page.expect_navigation():
        page.locator(f'form[action="/console/partners/{partner.slug}/keys"] button').click()
    audit.check(f"/console/partners/{partner.slug}/keys (the key shown once)")
    page.goto("/console/staff")
    invite = page.locator('form[action="/console/staff/invite"]')
    invite.locator('input[name="email"]').fill(fresh_email("agent"))
    with page.expect_navigation():
        invite.get_by_role("button", name="Send the invitation").click()
    page.goto(f"/console/orders/{refunded.number}/refund")
    page.locator('textarea[name="reason"]').fill("the buyer asked")
    with page.expect_navigation():
        page.locator(f'form[action="/console/orders/{refunded.number}/refund"] button').click()

    audit.crawl(
        [
            "/console",
            batch_page,
            f"/console/licenses/{linked.public_id}",
            f"/console/codes?{httpx.QueryParams(q=linked.code)}",
            f"/console/codes?{httpx.QueryParams(q=customer.email)}",
            f"/console/orders/{order.number}",
            f"/console/customers/{customer.id}",
        ],
        skip=OUTSIDE_THE_CONSOLE,
    )
    assert f"/console/customers/{customer.id}" in audit.checked, audit.checked
    assert f"/console/webhooks?endpoint={hooks}" in audit.checked, audit.checked
    # Error states, as the server renders them when a form is sent empty or wrong.
    for path, form in [
        ("/console/plans/new", 'form[action="/console/plans"]'),
        ("/console/batches", 'form[action="/console/batches"]'),
        ("/console/staff", 'form[action="/console/staff/invite"]'),
        ("/console/partners/new", 'form[action="/console/partners"]'),
        (f"/console/orders/{order.number}/refund", "main form"),
        (f"/console/customers/{customer.id}/erase", "main form"),
        ("/console/webhooks/new", 'form[action="/console/webhooks"]'),
        (
            f"/console/licenses/{linked.public_id}",
            f'form[action="/console/licenses/{linked.public_id}/extend"]',
        ),
    ]:
        audit.submit(path, form)
    for path in ["/console?from=not-a-date", "/console/audit?since=31/02/2026"]:
        audit.visit(path)
    # A rotated webhook secret, shown once.
    audit.submit("/console/webhooks", f'form[action="/console/webhooks/{hooks}/rotate-secret"]')
    assert len(audit.checked) >= 45, audit.checked  # every section, its pages and forms
    passes(audit)
