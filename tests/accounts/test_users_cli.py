"""``licensor users create``, run as a vendor runs it: a subprocess of the installed script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from licensor.clock import Clock
from licensor.config import Settings
from licensor.db import Database
from tests.accounts.factories import TOTP_SECRET, Customer, OpenBrowser, two_factor_code
from tests.cli_support import cli_environment, run

PASSWORD = "a staff password long enough"


def _licensor(
    settings: Settings, tmp_path: Path, *args: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)
    environment.update(LICENSOR_PASSWORD=password, COLUMNS="200")
    return run("licensor", *args, environment=environment, cwd=tmp_path)


@pytest.fixture
def created(database: Database, settings: Settings, tmp_path: Path) -> Customer:
    """An agent with two-factor, made by ``licensor users create``."""
    result = _licensor(
        settings,
        tmp_path,
        *("users", "create", "--email", "Agent@Example.com", "--role", "agent"),
        *("--totp-secret", TOTP_SECRET.lower()),
    )
    assert result.returncode == 0, result.stderr
    assert "agent@example.com" in result.stdout
    return Customer(0, "agent@example.com", PASSWORD)


def test_a_created_agent_signs_in_at_once_with_the_six_digit_code_on_a_second_form(
    created: Customer, form_browser: OpenBrowser, clock: Clock
) -> None:
    agent = form_browser()

    first = agent.sign_in(created)

    assert first.headers["location"].startswith("/sign-in/two-factor")
    assert not agent.signed_in()  # the password alone is not enough
    form = agent.get(first.headers["location"])
    assert form.status_code == 200
    assert 'autocomplete="one-time-code"' in form.text
    second = agent.post(
        "/sign-in/two-factor",
        {"code": two_factor_code(TOTP_SECRET, clock), "next": "/account/licenses"},
        token=agent.csrf_token(first.headers["location"]),
    )
    assert second.status_code == 303, second.text
    assert agent.signed_in()


def test_a_wrong_six_digit_code_keeps_the_agent_out(
    created: Customer, form_browser: OpenBrowser, clock: Clock
) -> None:
    agent = form_browser()
    agent.sign_in(created)
    right = two_factor_code(TOTP_SECRET, clock)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    answer = agent.post(
        "/sign-in/two-factor",
        {"code": wrong},
        token=agent.csrf_token("/sign-in/two-factor"),
    )

    assert answer.status_code == 401
    assert not agent.signed_in()


def test_a_created_customer_without_two_factor_signs_in_with_one_form(
    database: Database, settings: Settings, tmp_path: Path, form_browser: OpenBrowser
) -> None:
    result = _licensor(
        settings, tmp_path, "users", "create", "--email", "c@example.com", "--role", "customer"
    )
    assert result.returncode == 0, result.stderr

    visitor = form_browser()
    answer = visitor.sign_in(Customer(0, "c@example.com", PASSWORD))

    assert answer.headers["location"] == "/account/licenses"
    assert visitor.signed_in()


def test_an_unknown_role_fails_with_a_message_naming_it(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    result = _licensor(
        settings, tmp_path, "users", "create", "--email", "x@example.com", "--role", "boss"
    )

    assert result.returncode == 1
    assert "role" in result.stderr
    assert "boss" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_short_password_fails_with_a_message(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    result = _licensor(
        settings,
        tmp_path,
        *("users", "create", "--email", "x@example.com", "--role", "agent"),
        password="short",
    )

    assert result.returncode == 1
    assert "password" in result.stderr
    assert "too short" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_duplicate_email_fails_whatever_its_case(
    created: Customer, settings: Settings, tmp_path: Path
) -> None:
    result = _licensor(
        settings, tmp_path, "users", "create", "--email", "AGENT@example.com", "--role", "admin"
    )

    assert result.returncode == 1
    assert "email" in result.stderr
    assert "cannot be used" in result.stderr


def test_a_password_too_short_for_the_account_or_too_common_fails_saying_why(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    def create(password: str, *options: str) -> subprocess.CompletedProcess[str]:
        return _licensor(
            settings,
            tmp_path,
            *("users", "create", "--email", "y@example.com", *options),
            password=password,
        )

    # 13 characters: the password alone
    without_totp = create("Qv7#kestrel-2", "--role", "customer")
    common = create("letmein123", "--role", "agent", "--totp-secret", TOTP_SECRET)
    with_totp = create("Qv7#kestrel-2", "--role", "customer", "--totp-secret", TOTP_SECRET)

    assert without_totp.returncode == 1
    assert "too short for your account: use at least 15 characters" in without_totp.stderr
    assert common.returncode == 1
    assert "list of common passwords" in common.stderr
    assert with_totp.returncode == 0, with_totp.stderr


def test_staff_count_as_having_a_second_factor_for_the_password_length(
    database: Database, settings: Settings, tmp_path: Path, form_browser: OpenBrowser
) -> None:
    """Staff always sign in with a second factor (enrolled at their first sign-in when not
    given here), so creation asks of them what sign-in asks: 8 characters, not 15."""

    def create(email: str, role: str, password: str) -> subprocess.CompletedProcess[str]:
        return _licensor(
            settings, tmp_path, "users", "create", "--email", email, "--role", role,
            password=password,
        )  # fmt: skip

    agent = create("short.agent@example.com", "agent", "Qv7#kestrel-2")  # 13 characters
    admin = create("short.admin@example.com", "admin", "Qv7#kestr")  # 9 characters
    customer = create("short.customer@example.com", "customer", "Qv7#kestrel-2")
    too_short = create("shorter.agent@example.com", "agent", "Qv7#kes")  # 7 characters

    assert agent.returncode == 0, agent.stderr
    assert admin.returncode == 0, admin.stderr
    assert customer.returncode == 1
    assert "use at least 15 characters" in customer.stderr
    assert too_short.returncode == 1
    assert "use at least 8 characters" in too_short.stderr
    # Sign-in agrees: the password is not weak for the agent, who goes on to enrol.
    visitor = form_browser()
    first = visitor.sign_in(Customer(0, "short.agent@example.com", "Qv7#kestrel-2"))
    assert first.headers["location"].startswith("/sign-in/two-factor")
    enrol = visitor.get(visitor.get(first.headers["location"]).headers["location"])
    assert enrol.status_code == 200
    assert "Set up two-factor sign-in" in enrol.text


def test_an_agent_created_without_a_totp_secret_sets_it_up_at_its_first_sign_in(
    database: Database, settings: Settings, tmp_path: Path, form_browser: OpenBrowser
) -> None:
    result = _licensor(
        settings, tmp_path, "users", "create", "--email", "new.agent@example.com", "--role", "agent"
    )
    assert result.returncode == 0, result.stderr
    assert "two-factor sign-in is set up at its first sign-in" in result.stdout
    agent = form_browser()

    first = agent.sign_in(Customer(0, "new.agent@example.com", PASSWORD))

    assert first.headers["location"].startswith("/sign-in/two-factor")
    desk = agent.get("/desk")
    assert desk.status_code == 303
    assert desk.headers["location"].startswith("/sign-in/two-factor")
    assert agent.get(agent.get(desk.headers["location"]).headers["location"]).status_code == 200
    assert "Set up two-factor sign-in" in agent.get("/sign-in/two-factor/enrol").text
