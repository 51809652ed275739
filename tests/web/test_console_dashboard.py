"""The console's dashboard in Chromium: an admin signed in with two-factor sees what devices,
buyers and the desk did today in its totals, charts and tables; the date range is typed in
the page's language or picked from presets, and a bad one is told beside its field; an agent
opening /console is sent on to the sections agents work in."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select

from licensor.clock import Clock
from licensor.models import Order, OrderStatus
from licensor.store.checkout import CheckoutForm
from licensor.store.testmode import TestProvider
from tests.accounts.factories import TOTP_SECRET, MakeAccount, fresh_email, two_factor_code
from tests.conftest import OpenUnit
from tests.licensing.factories import MakeCode, MakePlan, activate, device, validate
from tests.store.factories import Settle, paid_with
from tests.support import wait_until
from tests.support.factories import MakeRequest, SignInStaff
from tests.web.conftest import sign_in


def sign_in_as_admin(page: Page, make_account: MakeAccount, clock: Clock) -> None:
    admin = make_account(fresh_email("admin"), roles=("admin",), totp_secret=TOTP_SECRET)
    sign_in(page, admin.email, admin.password)
    page.get_by_label("6-digit code").fill(two_factor_code(TOTP_SECRET, clock))
    page.get_by_role("button", name=re.compile("Continue|Sign in|Verify")).click()
    expect(page.get_by_role("link", name="Console")).to_be_visible()


def numbers_of(page: Page, table: str) -> list[str]:
    """The value column of a chart's table (folded under "The numbers")."""
    return page.locator(f"#{table}-table tbody td").all_text_contents()


def test_the_dashboard_shows_today_in_totals_charts_and_tables(
    page: Page,
    api: httpx.Client,
    make_code: MakeCode,
    make_plan: MakePlan,
    make_account: MakeAccount,
    make_request: MakeRequest,
    open_unit: OpenUnit,
    provider: TestProvider,
    settle: Settle,
    clock: Clock,
) -> None:
    # Days of our own (past the 30 days shown): the server's validation writer may still
    # add an earlier test's validations to today after that test's rows were emptied.
    clock.advance(timedelta(days=47))
    # Early in a day, so that the two hours the support request waits below stay in it
    # whatever the time the suite runs.
    now = clock.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    clock.advance(midnight - now + timedelta(hours=1))
    laptop = device("Laptop")
    first = activate(api, make_code(), laptop)
    activate(api, make_code(), device("Desktop"))
    for _ in range(3):
        validate(api, first["license_key"], laptop["fingerprint"])
    make_plan("shop", price_cents=2500)
    refunded = []
    for _ in range(2):
        with open_unit() as unit:
            payment = unit.checkout.start(
                "shop",
                CheckoutForm("1", "Mario Rossi", fresh_email("buyer")),
                account=None,
                language="en",
                actor="test",
            )
        assert settle(paid_with(provider, payment)) == OrderStatus.PAID
        refunded.append(payment.reference)
    with open_unit() as unit:  # the second order refunded, the console's way
        order = unit.session.scalars(
            select(Order).where(Order.payment_reference == refunded[1]).with_for_update()
        ).one()
        unit.orders.mark_refunded(order, reason="asked", actor="test")
    make_request()
    clock.advance(timedelta(hours=2))  # the request has waited two hours

    sign_in_as_admin(page, make_account, clock)
    page.get_by_role("link", name="Console").click()

    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    totals = page.get_by_role("list", name="Totals")
    expect(totals).to_contain_text("2 activations in this range")
    expect(totals).to_contain_text("2 new licenses in this range")
    expect(totals).to_contain_text("2 devices holding a seat at the end")
    expect(totals).to_contain_text("€25.00 in revenue")
    expect(totals).to_contain_text("1 support request not yet solved")

    # Validations reach the dashboard behind the answers, in the writer's next batch.
    def validations_counted() -> bool:
        page.reload()
        return "3 validations in this range" in totals.inner_text()

    wait_until(validations_counted, "the validations counted", timeout=15, interval=0.5)
    assert len(numbers_of(page, "activations")) == 30
    assert numbers_of(page, "activations")[-1] == "2"
    assert numbers_of(page, "validations")[-1] == "3"
    assert numbers_of(page, "revenue-eur")[-1] == "€25.00"  # 50.00 paid, 25.00 refunded
    assert numbers_of(page, "requests")[-1] == "1"
    charts = page.locator("svg.chart[role=img]")
    assert (
        charts.count() == 7
    )  # activations, validations, licenses, devices, EUR, requests, recoveries
    expect(
        page.get_by_role("img", name=re.compile(r"^Activations a day from .*: 2 in all"))
    ).to_be_visible()
    expect(page.get_by_role("row", name="Oldest waiting 2 hours")).to_be_visible()

    page.get_by_role("link", name="Last 7 days").click()
    expect(page.get_by_role("link", name="Last 7 days")).to_have_attribute("aria-current", "true")
    assert len(numbers_of(page, "activations")) == 7

    today = clock.now().date()
    page.get_by_role("textbox", name="Start date").fill(today.strftime("%m/%d/%Y"))
    page.get_by_role("textbox", name="End date").fill(
        (today - timedelta(days=3)).strftime("%m/%d/%Y")
    )
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("Choose an end date on or after the start date.")).to_be_visible()
    expect(page.get_by_role("textbox", name="End date")).to_have_attribute("aria-invalid", "true")

    page.get_by_role("textbox", name="Start date").fill(
        (today - timedelta(days=1)).strftime("%m/%d/%Y")
    )
    page.get_by_role("textbox", name="End date").fill(today.strftime("%m/%d/%Y"))
    page.get_by_role("button", name="Show").click()
    assert len(numbers_of(page, "activations")) == 2
    expect(page.get_by_role("textbox", name="Start date")).to_have_value(
        (today - timedelta(days=1)).strftime("%m/%d/%Y")
    )


def test_an_agent_opening_the_console_is_sent_to_codes(sign_in_staff: SignInStaff) -> None:
    agent, _ = sign_in_staff("agent")
    admin, _ = sign_in_staff("admin")

    sent = agent.get("/console")
    shown = admin.get("/console")
    too_long = admin.get("/console?from=2025-01-01&to=2026-01-02")
    mangled = admin.get("/console?days=²")  # a digit to str.isdigit(), not to int()

    assert sent.status_code == 303
    assert sent.headers["location"] == "/console/codes"
    assert shown.status_code == 200
    assert mangled.status_code == 200
    assert shown.text.count('<svg class="chart ') == 6  # no revenue chart: nothing was sold
    assert "No store order was paid or refunded in this range." in shown.text
    assert too_long.status_code == 422
    assert "Choose a range of at most 366 days." in too_long.text
    assert "<svg" not in too_long.text
