"""The console's Customers section over HTTP, and ``licensor users`` for the same: staff
find an account; admins disable it (its sessions end, sign-in and the app's account link
refuse it as a wrong password), export its data (audited) and erase it (personal data
gone, the orders' numbers and amounts kept, the address free to sign up again)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import cast

import httpx
import pytest
from sqlalchemy import select

from licensor.accounts.privacy import Privacy, erased_email
from licensor.config import Settings
from licensor.console.customers import stop_billing
from licensor.db import Database
from licensor.models import (
    Account,
    Order,
    Subscription,
    SubscriptionStatus,
    SupportMessage,
    SupportRequest,
)
from licensor.store.payments import PaymentProvider
from tests.accounts.factories import (
    Browser,
    LinkCode,
    MakeAccount,
    OpenBrowser,
    link,
    outbox,
    signed_in,
)
from tests.cli_support import Command, cli_environment, run
from tests.conftest import OpenUnit
from tests.store.factories import MakeOrder, MakeSubscription
from tests.support import audit_events
from tests.support.factories import MakeRequest, SignInStaff

WRONG_PASSWORD = "The email or password is not correct."


def post(browser: Browser, path: str, data: dict[str, str], page: str) -> httpx.Response:
    return browser.post(path, data, token=browser.csrf_token(page))


def account_row(database: Database, account_id: int) -> Account:
    with database.transaction() as session:
        return session.get_one(Account, account_id)


def order_row(database: Database, number: str) -> Order:
    with database.transaction() as session:
        return session.scalars(select(Order).where(Order.number == number)).one()


def test_an_agent_finds_a_customer_and_reads_the_page_but_cannot_disable_it(
    sign_in_staff: SignInStaff,
    make_account: MakeAccount,
    make_order: MakeOrder,
    database: Database,
) -> None:
    customer = make_account()
    other = make_account()
    make_order(email=customer.email, name="Giulietta Capuleti", account_id=customer.id)
    agent, _ = sign_in_staff("agent")

    found = agent.get(f"/console/customers?q={customer.email[:12]}")
    by_name = agent.get("/console/customers?q=capuleti")
    by_number = agent.get(f"/console/customers?q={other.id}")
    page = agent.get(f"/console/customers/{customer.id}")
    refused = post(
        agent,
        f"/console/customers/{customer.id}/disable",
        {"reason": "fraud"},
        f"/console/customers/{customer.id}",
    )

    assert found.status_code == 200
    assert f'href="/console/customers/{customer.id}"' in found.text
    assert f'href="/console/customers/{customer.id}"' in by_name.text
    assert f'href="/console/customers/{other.id}"' not in by_name.text
    assert f'href="/console/customers/{other.id}"' in by_number.text
    assert page.status_code == 200
    assert customer.email in page.text
    assert refused.status_code == 403
    assert account_row(database, customer.id).disabled_at is None
    # A superscript and full-width digits pass str.isdigit(): neither is an account number.
    wide = "\uff11\uff12"  # "12" in full-width digits
    for unknown in ("999999", "99999999999999999999999", "abc", "²", wide):
        assert agent.get(f"/console/customers/{unknown}").status_code == 404
    for mangled in ("?q=²", "?p=²", f"?q={wide}"):
        assert agent.get(f"/console/customers{mangled}").status_code == 200


def test_a_disabled_account_is_signed_out_and_refused_like_a_wrong_password(
    sign_in_staff: SignInStaff,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    linked_code: LinkCode,
    api: httpx.Client,
    database: Database,
) -> None:
    customer = make_account()
    linked = linked_code(customer)
    customer_browser = signed_in(form_browser, customer)
    admin, _ = sign_in_staff("admin")
    page = f"/console/customers/{customer.id}"

    blank = post(admin, f"{page}/disable", {"reason": " "}, page)
    disabled = post(admin, f"{page}/disable", {"reason": "chargeback fraud"}, page)

    assert blank.status_code == 422
    assert "Give a reason: it goes in the audit log." in blank.text
    assert disabled.status_code == 303
    assert not customer_browser.signed_in()
    again = form_browser().post(
        "/sign-in", {"email": customer.email, "password": customer.password}
    )
    assert again.status_code == 401
    assert WRONG_PASSWORD in again.text
    refused = link(api, customer, linked.license_key, linked.fingerprint)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_credentials"
    assert outbox(database, customer.email, "account_disabled")
    (event,) = audit_events(database, "accounts.disabled")
    assert event.reason == "chargeback fraud"
    assert event.subject_id == customer.id

    enabled = post(admin, f"{page}/enable", {"reason": "cleared"}, page)

    assert enabled.status_code == 303
    assert signed_in(form_browser, customer).signed_in()


def test_the_export_is_a_json_download_with_the_customers_codes_and_is_audited(
    sign_in_staff: SignInStaff,
    make_account: MakeAccount,
    linked_code: LinkCode,
    make_order: MakeOrder,
    database: Database,
) -> None:
    customer = make_account()
    linked = linked_code(customer)
    order = make_order(email=customer.email)
    admin, _ = sign_in_staff("admin")
    page = f"/console/customers/{customer.id}"

    answer = post(admin, f"{page}/export", {}, page)

    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    document = answer.json()
    assert document["account"]["email"] == customer.email
    codes = {row["activation_code"] for row in document["licenses"]}
    assert codes == {linked.code, *order.codes}  # the order's code joined the account too
    assert [row["number"] for row in document["orders"]] == [order.number]
    (event,) = audit_events(database, "accounts.data_exported")
    assert event.subject_id == customer.id


def test_erasure_removes_personal_data_and_keeps_the_orders_numbers_and_amounts(
    sign_in_staff: SignInStaff,
    make_account: MakeAccount,
    make_order: MakeOrder,
    make_request: MakeRequest,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    customer = make_account()
    order = make_order(email=customer.email, name="Maria Bianchi")
    request = make_request(email=customer.email, message="My card is lost, I am Maria.")
    total = order_row(database, order.number).total_cents
    admin, staff = sign_in_staff("admin")
    page = f"/console/customers/{customer.id}"
    form = f"{page}/erase"

    mistyped = post(admin, form, {"confirm_email": "other@example.com", "reason": "x"}, form)
    staff_refused = post(
        admin,
        f"/console/customers/{staff.id}/erase",
        {"confirm_email": staff.email, "reason": "x"},
        f"/console/customers/{staff.id}/erase",
    )
    erased = post(admin, form, {"confirm_email": customer.email, "reason": "GDPR request"}, form)

    assert mistyped.status_code == 422
    assert "Type the account&#39;s email address exactly" in mistyped.text
    assert staff_refused.status_code == 422
    assert account_row(database, staff.id).erased_at is None
    assert erased.status_code == 303
    placeholder = erased_email(customer.id)
    assert placeholder in admin.get(page).text
    row = account_row(database, customer.id)
    assert row.email == placeholder
    assert row.erased_at is not None
    with database.transaction() as session:
        kept = session.scalars(select(Order).where(Order.number == order.number)).one()
        assert (kept.total_cents, kept.purchased_at) == (total, order.purchased_at)
        assert total > 0
        assert (kept.customer_name, kept.customer_email) == ("Erased customer", placeholder)
        support = session.get_one(SupportRequest, request.id)
        assert support.customer_email == placeholder
        bodies = session.scalars(
            select(SupportMessage.body).where(SupportMessage.request_id == request.id)
        ).all()
        assert list(bodies) == [""]
    refused = form_browser().post(
        "/sign-in", {"email": customer.email, "password": customer.password}
    )
    assert refused.status_code == 401
    (event,) = audit_events(database, "accounts.erased")
    assert event.reason == "GDPR request"
    # The address is free: it signs up afresh, a new account with nothing of the old.
    fresh = make_account(customer.email)
    assert fresh.id != customer.id


@pytest.fixture
def licensor(settings: Settings, tmp_path: Path) -> Command:
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)
    environment["COLUMNS"] = "200"

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return run("licensor", "users", *args, environment=environment, cwd=tmp_path)

    return command


def test_the_users_commands_find_disable_export_and_erase_through_the_same_rules(
    licensor: Command,
    make_account: MakeAccount,
    linked_code: LinkCode,
    database: Database,
    tmp_path: Path,
) -> None:
    command = licensor
    customer = make_account()
    unverified = make_account(verified=False)
    linked = linked_code(customer)

    listed = command("list", "--search", customer.email)
    shown = command("show", customer.email)
    disabled = command("disable", customer.email, "--reason", "fraud")
    enabled = command("enable", customer.email)
    exported = command("export", customer.email, "--out", str(tmp_path / "out.json"))
    resent = command("resend-verification", unverified.email)
    too_soon = command("resend-verification", unverified.email)
    erased = command("erase", customer.email, "--reason", "asked by mail", "--yes")
    # Staff leave through the Staff section, which keeps the last admin.
    admin = make_account(roles=("admin",))
    staff_refused = command("disable", admin.email, "--reason", "locked out")

    assert listed.returncode == 0, listed.stderr
    assert customer.email in listed.stdout
    assert shown.returncode == 0, shown.stderr
    assert linked.public_id in shown.stdout
    assert linked.code not in shown.stdout  # masked: the show is no disclosure
    assert disabled.returncode == 0, disabled.stderr
    assert enabled.returncode == 0, enabled.stderr
    assert exported.returncode == 0, exported.stderr
    document = json.loads((tmp_path / "out.json").read_text())
    assert [row["activation_code"] for row in document["licenses"]] == [linked.code]
    assert resent.returncode == 0, resent.stderr
    assert too_soon.returncode == 1
    assert "less than 10 minutes ago" in too_soon.stderr
    assert erased.returncode == 0, erased.stderr
    assert account_row(database, customer.id).email == erased_email(customer.id)
    assert staff_refused.returncode == 1
    assert "remove the staff role first" in staff_refused.stderr
    assert account_row(database, admin.id).disabled_at is None
    actions = [event.action for event in audit_events(database)]
    for action in (
        "accounts.disabled",
        "accounts.enabled",
        "accounts.data_exported",
        "accounts.verification_resent",
        "accounts.erased",
    ):
        assert action in actions


class BillingProvider:
    """A provider that bills subscriptions itself (as Stripe Billing does): what it is told."""

    name = "stripe"

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def set_renewal(self, provider_subscription_id: str, *, renews: bool) -> None:
        assert not renews
        self.stopped.append(provider_subscription_id)


def test_an_erasure_tells_the_provider_that_bills_a_subscription_to_stop(
    make_account: MakeAccount, make_subscription: MakeSubscription, open_unit: OpenUnit
) -> None:
    customer = make_account()
    ours = make_subscription(customer.id)
    billed = make_subscription(customer.id, "pro")
    with open_unit() as unit:
        stripe_billed = unit.session.get_one(Subscription, billed)
        stripe_billed.provider, stripe_billed.provider_subscription_id = "stripe", "sub_9"

    with open_unit() as unit:
        account = unit.session.get_one(Account, customer.id)
        told = unit.service(Privacy).erase(account, customer.email, "GDPR request")
    provider = BillingProvider()
    stop_billing(cast(PaymentProvider, provider), told)

    assert told == [("stripe", "sub_9")]  # the one our worker renews needs no telling
    assert provider.stopped == ["sub_9"]
    with open_unit() as unit:
        for subscription_id in (ours, billed):
            stopped = unit.session.get_one(Subscription, subscription_id)
            assert (stopped.status, stopped.auto_renew) == (SubscriptionStatus.CANCELED, False)
