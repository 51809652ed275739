"""Subscriptions (F1): shown in My Account, the download's one-time token activates the
app with no code, and renewal, failed payment, cancellation and expiry follow the clock."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import EnrollmentToken, Subscription
from licensor.store.payments import PaymentOutcome, PaymentResult, RecurringCharge
from licensor.store.renewals import RenewalRun
from licensor.store.tasks import run_due
from tests.accounts.factories import Customer, MakeAccount, OpenBrowser
from tests.cli_support import cli_environment, run
from tests.licensing.factories import device, validate
from tests.store.factories import EnrollmentTokenFor, MakeSubscription
from tests.support import assert_problem

GRACE = timedelta(days=7)  # settings.subscription_grace_days


def download(form_browser: OpenBrowser, customer: Customer, subscription_id: int) -> Any:
    browser = form_browser()
    browser.sign_in(customer)
    response = browser.post(f"/account/subscriptions/{subscription_id}/download")
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response.json()


def enroll(api: httpx.Client, token: str, machine: dict[str, str]) -> httpx.Response:
    return api.post("/api/v1/enrollments", json={"token": token, "device": machine})


def run_renewals(
    database: Database, keyring: Keyring, settings: Settings, clock: Clock, *, paid: bool
) -> RenewalRun:
    def charge(renewal: RecurringCharge) -> PaymentResult:
        outcome = PaymentOutcome.PAID if paid else PaymentOutcome.FAILED
        return PaymentResult(renewal.reference, outcome, renewal.amount_cents, renewal.currency)

    return run_due(database, keyring, settings, clock.now(), charge)


def test_the_subscription_shows_in_my_account_and_its_download_activates_the_app(
    form_browser: OpenBrowser,
    make_account: MakeAccount,
    make_subscription: MakeSubscription,
    settings: Settings,
    tmp_path: Path,
) -> None:
    customer = make_account()
    subscription_id = make_subscription(customer.id, "premium")
    browser = form_browser()
    browser.sign_in(customer)
    listed = browser.get("/account/subscriptions").text
    assert "Premium" in listed
    assert "Next charge" in listed

    enrollment = download(form_browser, customer, subscription_id)
    assert enrollment["format"] == "licensor-enrollment/1"
    file = tmp_path / "licensor-enrollment.json"
    file.write_text(json.dumps(enrollment))

    # The server and its keys come from the file: no --server, nothing typed.
    environment = cli_environment(tmp_path / "var")
    environment["LICENSOR_FINGERPRINT"] = "enrolled-laptop-0123456789"
    state = str(tmp_path / "state")
    ran = run(
        "licensor-client",
        "--state-dir",
        state,
        "enroll",
        "--file",
        str(file),
        "--json",
        environment=environment,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    activated = json.loads(ran.stdout)
    assert activated["plan"] == "premium"
    assert activated["valid"] is True

    again = run(
        "licensor-client",
        "--state-dir",
        str(tmp_path / "other"),
        "enroll",
        "--file",
        str(file),
        environment={**environment, "LICENSOR_FINGERPRINT": "another-laptop-0123456789"},
        cwd=tmp_path,
    )
    assert again.returncode == 11
    assert "used or has expired" in again.stderr


def test_a_token_is_spent_once_and_not_by_a_refused_enrollment(
    api: httpx.Client,
    database: Database,
    make_account: MakeAccount,
    make_subscription: MakeSubscription,
    enrollment_token: EnrollmentTokenFor,
) -> None:
    customer = make_account()
    subscription_id = make_subscription(customer.id, "solo-sub", devices_max=1)
    first = enrollment_token(customer.id, subscription_id)
    second = enrollment_token(customer.id, subscription_id)

    assert enroll(api, first, device()).status_code == 201
    assert_problem(enroll(api, first, device()), 410, "enrollment_token_invalid")
    full = enroll(api, second, device())
    assert_problem(full, 409, "device_limit_reached")
    # Refused for the seat, the token was not spent: it still works once a seat is free.
    with database.transaction() as session:
        assert session.scalars(
            select(EnrollmentToken).where(EnrollmentToken.used_at.is_(None))
        ).all()
    unknown = enroll(api, "le_" + secrets.token_urlsafe(24), device())
    assert_problem(unknown, 410, "enrollment_token_invalid")


def _enrolled(api: httpx.Client, token: str) -> tuple[str, str]:
    """A new device enrolled with the token: its license key and fingerprint."""
    machine = device()
    response = enroll(api, token, machine)
    assert response.status_code == 201, response.text
    return response.json()["license_key"], machine["fingerprint"]


@pytest.mark.parametrize("paid", [True, False])
def test_renewal_keeps_the_license_and_a_failed_one_ends_it_after_the_grace(
    api: httpx.Client,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    make_account: MakeAccount,
    make_subscription: MakeSubscription,
    enrollment_token: EnrollmentTokenFor,
    paid: bool,
) -> None:
    customer = make_account()
    subscription_id = make_subscription(customer.id)
    license_key, fingerprint = _enrolled(api, enrollment_token(customer.id, subscription_id))

    clock.advance(timedelta(days=30, minutes=1))  # the 30-day period is over
    run = run_renewals(database, keyring, settings, clock, paid=paid)
    assert (run.renewed, run.past_due) == ((1, 0) if paid else (0, 1))
    assert validate(api, license_key, fingerprint)["valid"] is True  # renewed, or in grace

    clock.advance(GRACE)
    run = run_renewals(database, keyring, settings, clock, paid=paid)
    checked = validate(api, license_key, fingerprint)
    if paid:
        assert checked["valid"] is True
        assert run.expired == 0
    else:
        assert run.expired == 1
        assert (checked["valid"], checked["status"]) == (False, "expired")
    with database.transaction() as session:
        status = session.get(Subscription, subscription_id).status  # type: ignore[union-attr]
    assert status == ("active" if paid else "expired")


def test_turning_off_renewal_keeps_the_license_until_the_period_ends(
    api: httpx.Client,
    form_browser: OpenBrowser,
    database: Database,
    keyring: Keyring,
    settings: Settings,
    clock: Clock,
    make_account: MakeAccount,
    make_subscription: MakeSubscription,
    enrollment_token: EnrollmentTokenFor,
) -> None:
    customer = make_account()
    subscription_id = make_subscription(customer.id)
    license_key, fingerprint = _enrolled(api, enrollment_token(customer.id, subscription_id))
    browser = form_browser()
    browser.sign_in(customer)
    canceled = browser.post(f"/account/subscriptions/{subscription_id}/cancel")
    assert canceled.status_code == 303  # post/redirect/get: a reload cancels nothing twice
    assert "Renewal is off" in browser.get(canceled.headers["location"]).text

    clock.advance(timedelta(days=29))
    assert validate(api, license_key, fingerprint)["valid"] is True
    clock.advance(timedelta(days=1, minutes=1))
    assert validate(api, license_key, fingerprint)["status"] == "expired"
    assert run_renewals(database, keyring, settings, clock, paid=True).expired == 1


def test_another_customer_cannot_download_or_cancel_a_subscription(
    form_browser: OpenBrowser, make_account: MakeAccount, make_subscription: MakeSubscription
) -> None:
    owner, other = make_account(), make_account()
    subscription_id = make_subscription(owner.id)
    browser = form_browser()
    browser.sign_in(other)
    for action in ("download", "cancel"):
        response = browser.post(f"/account/subscriptions/{subscription_id}/{action}")
        assert response.status_code == 404
