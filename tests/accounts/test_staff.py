"""Staff invitations, roles and removal over HTTP (the console's forms as a browser posts
them) and through ``licensor users invite|staff|set-role|remove-staff``."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from licensor.accounts.staff import Staff
from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import FormInvalid
from licensor.keys import Keyring
from tests.accounts.factories import (
    PASSWORD,
    TOTP_SECRET,
    Browser,
    Customer,
    MakeAccount,
    OpenBrowser,
    link_in_mail,
    outbox,
    two_factor_code,
)
from tests.cli_support import cli_environment, run
from tests.conftest import OpenUnit
from tests.support import audit_events


def staff_browser(open_browser: OpenBrowser, member: Customer, clock: Clock) -> Browser:
    """A browser signed in as a member of staff enrolled with ``TOTP_SECRET``."""
    browser = open_browser()
    first = browser.sign_in(member)
    second = browser.post(
        "/sign-in/two-factor",
        {"code": two_factor_code(TOTP_SECRET, clock), "next": "/console/staff"},
        token=browser.csrf_token(first.headers["location"]),
    )
    assert second.status_code == 303, second.text
    return browser


@pytest.fixture
def admin(make_account: MakeAccount) -> Customer:
    return make_account("boss@example.com", roles=("admin",), totp_secret=TOTP_SECRET)


def _invite(admin_browser: Browser, email: str, role: str = "agent") -> str:
    answer = admin_browser.post(
        "/console/staff/invite",
        {"email": email, "role": role},
        token=admin_browser.csrf_token("/console/staff"),
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def _invitation_link(database: Database, keyring: Keyring, email: str) -> str:
    (message,) = outbox(database, email, "staff_invitation")
    return link_in_mail(keyring, message, "/staff-invitation")


def test_an_invited_agent_chooses_a_password_and_must_enrol_before_staff_pages(
    form_browser: OpenBrowser,
    admin: Customer,
    database: Database,
    keyring: Keyring,
    clock: Clock,
) -> None:
    boss = staff_browser(form_browser, admin, clock)
    assert _invite(boss, "New.Agent@example.com") == "/console/staff?done=invited"
    link = _invitation_link(database, keyring, "new.agent@example.com")
    newcomer = form_browser()

    opened = newcomer.get(link)
    assert opened.status_code == 200
    assert 'name="password"' in opened.text
    token = link.split("token=")[1]
    weak = newcomer.post(
        "/staff-invitation", {"token": token, "password": "short"}, token=newcomer.csrf_token(link)
    )
    assert weak.status_code == 422
    joined = newcomer.post(
        "/staff-invitation",
        {"token": token, "password": "a long enough staff password"},
        token=newcomer.csrf_token(link),
    )

    assert joined.status_code == 303
    assert joined.headers["location"].startswith("/sign-in/two-factor")
    # Half signed in: every staff page sends the newcomer to enrol first.
    refused = newcomer.get("/console/codes")
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/sign-in/two-factor")
    enrol = newcomer.get(refused.headers["location"])
    assert enrol.status_code == 303
    assert enrol.headers["location"].startswith("/sign-in/two-factor/enrol")
    # The link works once.
    again = newcomer.get(link)
    assert again.status_code == 400
    assert "expired or was already used" in again.text
    listed = boss.get("/console/staff")
    assert "new.agent@example.com" in listed.text
    assert "Pending: at first sign-in" in listed.text
    actions = [event.action for event in audit_events(database)]
    assert "accounts.staff_invited" in actions
    assert "accounts.staff_joined" in actions


def test_an_existing_customer_accepts_with_their_password_and_a_dead_link_says_nothing(
    form_browser: OpenBrowser,
    admin: Customer,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
    clock: Clock,
) -> None:
    customer = make_account("already@example.com")
    boss = staff_browser(form_browser, admin, clock)
    _invite(boss, customer.email, role="admin")
    link = _invitation_link(database, keyring, customer.email)
    token = link.split("token=")[1]
    visitor = form_browser()
    page = visitor.get(link)
    assert "already has an account" in page.text

    wrong = visitor.post(
        "/staff-invitation/accept",
        {"token": token, "password": "not it"},
        token=visitor.csrf_token(link),
    )
    assert wrong.status_code == 401
    accepted = visitor.post(
        "/staff-invitation/accept",
        {"token": token, "password": PASSWORD},
        token=visitor.csrf_token(link),
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"].startswith("/sign-in/two-factor")

    # Expired, used and unknown links answer alike, with no word of any account.
    _invite(boss, "someone.else@example.com")
    expiring = _invitation_link(database, keyring, "someone.else@example.com")
    clock.advance(timedelta(days=8))
    answers = {
        visitor.get(path).text.count("expired or was already used")
        for path in (link, expiring, "/staff-invitation?token=nonsense")
    }
    assert answers == {1}
    assert all(visitor.get(path).status_code == 400 for path in (link, expiring))


def test_an_admin_revokes_an_invitation_and_cannot_remove_themselves_or_the_last_admin(
    form_browser: OpenBrowser,
    admin: Customer,
    make_account: MakeAccount,
    database: Database,
    keyring: Keyring,
    clock: Clock,
) -> None:
    boss = staff_browser(form_browser, admin, clock)
    _invite(boss, "maybe@example.com")
    link = _invitation_link(database, keyring, "maybe@example.com")
    page = boss.get("/console/staff")
    invitation_id = page.text.split("/console/staff/invitations/")[1].split("/")[0]
    revoked = boss.post(
        f"/console/staff/invitations/{invitation_id}/revoke",
        token=boss.csrf_token("/console/staff"),
    )
    assert revoked.status_code == 303
    assert form_browser().get(link).status_code == 400

    itself = boss.post(f"/console/staff/{admin.id}/remove", token=boss.csrf_token("/console/staff"))
    assert itself.status_code == 422
    assert "your own staff role" in itself.text

    agent = make_account("agent@example.com", roles=("agent",), totp_secret=TOTP_SECRET)
    agent_browser = staff_browser(form_browser, agent, clock)
    assert agent_browser.get("/console/staff").status_code == 403  # admins only
    promoted = boss.post(
        f"/console/staff/{agent.id}/role",
        {"role": "admin"},
        token=boss.csrf_token("/console/staff"),
    )
    assert promoted.status_code == 303
    removed = boss.post(
        f"/console/staff/{agent.id}/remove", token=boss.csrf_token("/console/staff")
    )
    assert removed.status_code == 303
    # The removed member's session ended with the roles.
    assert agent_browser.get("/console/staff").status_code == 303
    actions = [event.action for event in audit_events(database)]
    assert {
        "accounts.staff_invite_revoked",
        "accounts.staff_role_changed",
        "accounts.staff_removed",
    } <= set(actions)


def _licensor(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)
    environment.update(COLUMNS="200")
    return run("licensor", *args, environment=environment, cwd=tmp_path)


def test_the_cli_invites_lists_changes_and_removes_staff(
    settings: Settings,
    tmp_path: Path,
    admin: Customer,
    make_account: MakeAccount,
    database: Database,
) -> None:
    invited = _licensor(
        settings, tmp_path, "users", "invite", "--email", "cli.agent@example.com", "--role", "agent"
    )
    assert invited.returncode == 0, invited.stderr
    assert "in the name of boss@example.com" in invited.stdout
    assert outbox(database, "cli.agent@example.com", "staff_invitation")

    agent = make_account("member@example.com", roles=("agent",))
    listed = _licensor(settings, tmp_path, "users", "staff")
    assert "member@example.com" in listed.stdout
    assert "invited: cli.agent@example.com as agent" in listed.stdout

    last = _licensor(settings, tmp_path, "users", "set-role", admin.email, "--role", "agent")
    assert last.returncode == 1
    assert "last admin" in last.stderr
    removed = _licensor(settings, tmp_path, "users", "remove-staff", agent.email)
    assert removed.returncode == 0, removed.stderr
    revoked = _licensor(settings, tmp_path, "users", "revoke-invite", "cli.agent@example.com")
    assert revoked.returncode == 0, revoked.stderr
    after = _licensor(settings, tmp_path, "users", "staff", "--json")
    assert "member@example.com" not in after.stdout
    assert "cli.agent@example.com" not in after.stdout
    removal = [e for e in audit_events(database) if e.action == "accounts.staff_removed"]
    assert removal[0].actor.startswith("cli:")


@pytest.mark.postgres_only
def test_two_admins_removing_each_other_at_once_leave_one_admin(
    make_account: MakeAccount, open_unit: OpenUnit, database: Database
) -> None:
    first = make_account("first.admin@example.com", roles=("admin",), totp_secret=TOTP_SECRET)
    second = make_account("second.admin@example.com", roles=("admin",), totp_secret=TOTP_SECRET)
    start = threading.Barrier(2)

    def remove(by: Customer, other: Customer) -> str:
        try:
            with open_unit(actor=f"account:{by.id}") as unit:
                staff = unit.service(Staff)
                start.wait(timeout=10)
                staff.remove(other.id, by=unit.accounts.get(by.id))
            return "removed"
        except FormInvalid as error:
            return error.fields["account"]

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(lambda pair: remove(*pair), [(first, second), (second, first)]))

    assert answers == ["last_admin", "removed"]
    assert len(audit_events(database, "accounts.staff_removed")) == 1


@pytest.mark.postgres_only
def test_an_invitation_accepted_twice_at_once_makes_one_account(
    admin: Customer, open_unit: OpenUnit, database: Database, keyring: Keyring
) -> None:
    with open_unit() as unit:
        inviter = unit.accounts.get(admin.id)
        unit.service(Staff).invite("twice@example.com", "agent", inviter=inviter)
    token = _invitation_link(database, keyring, "twice@example.com").split("token=")[1]
    start = threading.Barrier(2)

    def join(_: int) -> str:
        # A double click: the same form posted twice, both read before either commits.
        try:
            with open_unit() as unit:
                start.wait(timeout=10)
                staff = unit.service(Staff)
                made = staff.join_new(token, "a long enough staff password", language="en")
            return "joined" if made else "refused"
        except IntegrityError:
            return "conflict"

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(join, range(2)))

    assert answers == ["joined", "refused"]
    assert len(audit_events(database, "accounts.staff_joined")) == 1
