"""The ``licensor`` and ``licensor-client`` commands, run as installed scripts.

Each command runs in a subprocess against the session's test database and the key
material the test server uses, so what the CLI writes is what the API then serves.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.orm import Session

from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing import formats
from licensor.migrate import alembic_config
from licensor.models import ActivationCode, Plan
from tests.cli_support import (
    Command,
    cli_environment,
    one_line,
    read_codes,
    run,
    table_rows,
)
from tests.conftest import OpenUnit
from tests.licensing.factories import device, try_activate
from tests.support import audit_events


@pytest.fixture
def licensor(settings: Settings, database: Database, keyring: Keyring, tmp_path: Path) -> Command:
    """``licensor ARGS...`` on the test database, with the keys the test server signs with."""
    environment = cli_environment(settings.var_dir, settings.resolved_database_url)

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return run("licensor", *args, environment=environment, cwd=tmp_path)

    return command


@pytest.fixture
def plus_plan(licensor: Command) -> str:
    created = licensor(*"plans create --code plus --name Plus --term-days 365 --devices 2".split())
    assert created.returncode == 0, created.stderr
    return "plus"


def _issue(licensor: Command, plan: str, count: int, out: Path) -> list[str]:
    issued = licensor("codes", "issue", "--plan", plan, "--count", str(count), "--out", str(out))
    assert issued.returncode == 0, issued.stderr
    return read_codes(out)[1]


# --- migrate --------------------------------------------------------------------------


def test_migrate_brings_a_fresh_sqlite_file_to_the_latest_revision(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    environment = cli_environment(var_dir)  # no database URL: the embedded default
    head = ScriptDirectory.from_config(
        alembic_config(Settings(var_dir=var_dir, _env_file=None))
    ).get_current_head()
    assert head is not None

    first = run("licensor", "migrate", environment=environment, cwd=tmp_path)
    again = run("licensor", "migrate", environment=environment, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert one_line(first.stdout) == f"database at revision {head}"
    assert again.returncode == 0, again.stderr
    assert one_line(again.stdout) == f"database at revision {head}"
    engine = create_engine(f"sqlite:///{var_dir / 'licensor.db'}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"plans", "activation_codes", "licenses", "audit_events"} <= tables


# --- plans ----------------------------------------------------------------------------


def test_a_created_plan_is_listed_with_its_terms(licensor: Command) -> None:
    created = licensor(
        *"plans create --code studio --name Studio --term-days 30 --devices 3".split(),
        *"--entitlement export --entitlement cloud".split(),
    )
    listed = licensor("plans", "list")

    assert created.returncode == 0, created.stderr
    assert one_line(created.stdout) == "plan studio (Studio): 30 days, 3 devices"
    assert listed.returncode == 0, listed.stderr
    assert table_rows(listed.stdout) == [
        ["studio", "Studio", "30", "3", "cloud, export", "no limit", "active"]
    ]


def test_creating_a_plan_twice_fails_with_a_clear_message(
    licensor: Command, plus_plan: str, database: Database
) -> None:
    duplicate = licensor(
        *"plans create --code plus --name Another --term-days 7 --devices 1".split()
    )

    assert duplicate.returncode == 1
    assert one_line(duplicate.stderr) == "error: plan 'plus' already exists (plan_exists)"
    with Session(database.engine) as session:
        assert list(session.scalars(select(Plan.name))) == ["Plus"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("--price NaN", "error: 'NaN' is not a price like 29.99 (validation_failed)"),
        ("--price 1e3", "error: '1e3' is not a price like 29.99 (validation_failed)"),
        ("--price -5", "error: '-5' is not a price like 29.99 (validation_failed)"),
        ("--price 2000000", "error: '2000000' is more than 1,000,000 a code (validation_failed)"),
        (
            "--devices 99999999999",
            "error: devices must be from 1 to 100,000 (validation_failed)",
        ),
        (
            "--term-days 99999999999",
            "error: term days must be from 1 to 36,500 (validation_failed)",
        ),
    ],
)
def test_a_plan_out_of_bounds_is_refused_in_one_line_and_not_made(
    licensor: Command, database: Database, arguments: str, message: str
) -> None:
    defaults = {"--devices": "3", "--term-days": "30"}
    for name in defaults.keys() & set(arguments.split()):
        defaults.pop(name)
    created = licensor(
        *"plans create --code odd --name Odd".split(),
        *[part for pair in defaults.items() for part in pair],
        *arguments.split(),
    )

    assert created.returncode == 1
    assert one_line(created.stderr) == message
    with Session(database.engine) as session:
        assert list(session.scalars(select(Plan.code))) == []


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["serve", "--port", "73836"], "--port"),
        (["demo", "--no-serve", "--port", "0"], "--port"),
        (["worker", "--idle-seconds", "-5"], "--idle-seconds"),
    ],
)
def test_a_server_argument_out_of_range_is_refused_before_anything_starts(
    licensor: Command, arguments: list[str], option: str
) -> None:
    refused = licensor(*arguments)

    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert f"Invalid value for '{option}'" in refused.stderr


# --- codes issue ----------------------------------------------------------------------


def test_issued_codes_go_to_a_private_csv_and_activate(
    licensor: Command,
    plus_plan: str,
    api: httpx.Client,
    open_unit: OpenUnit,
    tmp_path: Path,
) -> None:
    out = tmp_path / "cards.csv"
    issued = licensor("codes", "issue", "--plan", plus_plan, "--count", "250", "--out", str(out))

    assert issued.returncode == 0, issued.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    header, codes = read_codes(out)
    assert header[0] == "activation_code"
    assert len(codes) == 250
    assert len(set(codes)) == 250
    assert all(formats.is_valid_code(code) for code in codes)
    # Every code in the file is in the database, and nothing else is.
    with open_unit() as unit:
        expected = {unit.codes.code_index(formats.normalize_code(code)) for code in codes}
        assert set(unit.session.scalars(select(ActivationCode.code_index))) == expected
    for code in codes:
        activated = try_activate(api, code)
        assert activated.status_code == 201, activated.text
        assert activated.json()["plan"] == plus_plan


def test_issuing_reports_the_whole_path_on_stdout_and_progress_on_stderr(
    licensor: Command, plus_plan: str, tmp_path: Path
) -> None:
    # Longer than the 80 columns of a pipe: a script must still find the path in one piece.
    out = tmp_path / ("printer-run-for-the-autumn-retail-campaign-" * 2 + "cards.csv")
    issued = licensor("codes", "issue", "--plan", plus_plan, "--count", "3", "--out", str(out))

    assert issued.returncode == 0, issued.stderr
    assert re.fullmatch(
        rf"batch \d+: 3 plus codes written to {re.escape(str(out))}\n", issued.stdout
    )
    assert "3/3" in issued.stderr  # the progress bar, kept out of what scripts read


def test_issuing_for_an_unknown_plan_fails_and_leaves_no_file(
    licensor: Command, database: Database, tmp_path: Path
) -> None:
    out_dir = tmp_path / "cards"
    out_dir.mkdir()
    issued = licensor(
        "codes", "issue", "--plan", "nope", "--count", "5", "--out", str(out_dir / "x.csv")
    )

    assert issued.returncode == 1
    assert "error: there is no plan 'nope' (plan_unknown)" in one_line(issued.stderr)
    assert list(out_dir.iterdir()) == []  # neither the CSV nor its .partial
    with Session(database.engine) as session:
        assert session.scalar(select(func.count(ActivationCode.id))) == 0


# --- codes block ----------------------------------------------------------------------


def test_a_blocked_code_no_longer_activates(
    licensor: Command, plus_plan: str, api: httpx.Client, tmp_path: Path
) -> None:
    blocked_code, other_code = _issue(licensor, plus_plan, 2, tmp_path / "cards.csv")

    blocked = licensor("codes", "block", blocked_code, "--reason", "refund")

    assert blocked.returncode == 0, blocked.stderr
    assert blocked_code not in blocked.stdout  # the output is masked
    assert formats.mask_code(formats.normalize_code(blocked_code)) in blocked.stdout
    refused = try_activate(api, blocked_code)
    assert refused.status_code == 403
    assert refused.json()["code"] == "code_blocked"
    assert try_activate(api, other_code).status_code == 201


# --- codes show -----------------------------------------------------------------------


@pytest.fixture
def activated(
    licensor: Command, plus_plan: str, api: httpx.Client, tmp_path: Path
) -> tuple[str, str]:
    """An issued code activated on one device, and its license key (canonical)."""
    (code,) = _issue(licensor, plus_plan, 1, tmp_path / "card.csv")
    response = try_activate(api, code, device("Studio PC"))
    assert response.status_code == 201, response.text
    return code, response.json()["license_key"]


def test_show_masks_the_code_and_the_license_key_by_default(
    licensor: Command, activated: tuple[str, str], database: Database
) -> None:
    code, license_key = activated
    canonical_code = formats.normalize_code(code)

    shown = licensor("codes", "show", code)

    assert shown.returncode == 0, shown.stderr
    assert formats.mask_code(canonical_code) in shown.stdout
    assert formats.mask_license_key(license_key) in shown.stdout
    for secret in (code, canonical_code, code[:17], license_key):
        assert secret not in shown.stdout
    assert formats.format_license_key(license_key) not in shown.stdout
    assert audit_events(database, "licensing.code_revealed") == []


def test_show_with_reveal_prints_code_and_key_in_full_and_audits_it(
    licensor: Command, activated: tuple[str, str], database: Database
) -> None:
    code, license_key = activated

    shown = licensor("codes", "show", code, "--reveal", "--reason", "card unreadable", "--json")

    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["activation_code"] == code
    assert report["license_key"] == formats.format_license_key(license_key)
    (event,) = audit_events(database, "licensing.code_revealed")
    assert event.reason == "card unreadable"
    assert event.actor.startswith("cli:")
    assert event.subject_type == "activation_code"
    with Session(database.engine) as session:
        code_id = session.scalar(select(ActivationCode.id))
    assert event.subject_id == code_id


def test_show_finds_the_code_from_its_license_key(
    licensor: Command, activated: tuple[str, str]
) -> None:
    code, license_key = activated

    shown = licensor("codes", "show", license_key, "--json")

    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["found_by"] == "license_key"
    assert report["activation_code"] == formats.mask_code(formats.normalize_code(code))
    assert report["plan"] == "plus"
    assert report["state"] == "active"
    assert report["devices"] == "1 of 2"
    assert [seat["device"] for seat in report["activations"]] == ["Studio PC"]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("not-a-code", "neither an activation code nor a license key"),
        (formats.format_code(formats.generate_code()), "This activation code is not known"),
    ],
    ids=["garbage", "well-formed-but-unknown"],
)
def test_show_fails_with_a_message_for_what_it_cannot_find(
    licensor: Command, secret: str, message: str
) -> None:
    shown = licensor("codes", "show", secret)

    assert shown.returncode == 1
    assert message in one_line(shown.stderr)
    assert "Traceback" not in shown.stderr
    assert shown.stdout == ""


# --- keys -----------------------------------------------------------------------------


def test_keys_show_prints_the_public_keys_the_server_publishes(
    licensor: Command, api: httpx.Client
) -> None:
    shown = licensor("keys", "show")

    assert shown.returncode == 0, shown.stderr
    published = api.get("/api/v1/signing-keys")
    assert published.status_code == 200
    printed, served = json.loads(shown.stdout), published.json()
    assert printed["current"] == served["current"]
    assert printed["keys"] == served["keys"]
    assert printed["current"] in printed["keys"]


# --- help -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "commands"),
    [
        (["--help"], ["serve", "migrate", "demo", "plans", "codes", "keys"]),
        (["plans", "--help"], ["create", "list"]),
        (["codes", "--help"], ["issue", "block", "show"]),
    ],
)
def test_help_lists_the_commands(tmp_path: Path, args: list[str], commands: list[str]) -> None:
    helped = run("licensor", *args, environment=cli_environment(tmp_path / "var"), cwd=tmp_path)

    assert helped.returncode == 0, helped.stderr
    listed = {row[0].split()[0] for row in table_rows(helped.stdout) if row and row[0]}
    assert set(commands) <= listed


# --- licensor-client ------------------------------------------------------------------


@pytest.fixture
def client_environment(tmp_path: Path) -> dict[str, str]:
    return cli_environment(tmp_path / "var")


def test_licensor_client_help_lists_the_contract_commands(
    client_environment: dict[str, str], tmp_path: Path
) -> None:
    helped = run("licensor-client", "--help", environment=client_environment, cwd=tmp_path)

    assert helped.returncode == 0, helped.stderr
    for usage in (
        "activate CODE",
        "status",
        "details",
        "recover --email E",
        "release",
        "export FILE",
        "import FILE",
        "connect",
        "--server URL",
        "--state-dir DIR",
    ):
        assert f"  {usage}" in helped.stdout  # listed, not merely mentioned


def test_the_client_sdk_imports_nothing_from_the_server(tmp_path: Path) -> None:
    probe = (
        "import sys, licensor_client, licensor_client.cli\n"
        "print(sorted(m for m in sys.modules if m == 'licensor' or m.startswith('licensor.')))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=False
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_a_command_on_a_database_without_tables_says_to_migrate(tmp_path: Path) -> None:
    result = run(
        "licensor", "plans", "list", environment=cli_environment(tmp_path / "var"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "run `licensor migrate`" in one_line(result.stderr)
    assert "Traceback" not in result.stderr


# --- a database newer than this version -------------------------------------------------


def test_a_database_migrated_by_a_newer_version_is_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    environment = cli_environment(tmp_path, url)
    assert run("licensor", "migrate", environment=environment, cwd=tmp_path).returncode == 0
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()

    for command in (["migrate"], ["serve", "--port", "8765"], ["plans", "list"]):
        refused = run("licensor", *command, environment=environment, cwd=tmp_path)

        assert refused.returncode == 1, command
        assert one_line(refused.stderr) == (
            "error: the database is at revision 0099_from_the_future, which this version of "
            "Licensor does not know: a newer version migrated it; run that version, or "
            "restore the backup made before"
        ), command


# --- plans edit and retire ------------------------------------------------------------


def _plan(database: Database, code: str) -> Plan:
    with Session(database.engine) as session:
        plan = session.scalars(select(Plan).where(Plan.code == code)).one()
        session.expunge(plan)
        return plan


def test_a_plan_is_edited_within_the_bounds_of_create_and_the_change_is_audited(
    licensor: Command, database: Database
) -> None:
    created = licensor(
        *"plans create --code home --name Home --term-days 365 --devices 2 --price 29.99".split()
    )
    assert created.returncode == 0, created.stderr

    edited = licensor(
        *"plans edit home --name".split(),
        "Home Plus",
        *"--price 19.50 --term-days 30 --devices 5 --subscription-price 4".split(),
    )

    assert edited.returncode == 0, edited.stderr
    assert one_line(edited.stdout) == (
        "plan home: name: Home -> Home Plus; term (days): 365 -> 30; devices: 2 -> 5; "
        "price: 29.99 -> 19.50; subscription price: not sold -> 4.00"
    )
    plan = _plan(database, "home")
    assert (plan.name, plan.term_days, plan.devices_max) == ("Home Plus", 30, 5)
    assert (plan.price_cents, plan.subscription_price_cents) == (1950, 400)
    [event] = audit_events(database, "plans.edited")
    assert (event.subject_type, event.subject_id) == ("plan", plan.id)
    assert event.actor.startswith("cli:")
    assert event.details["changes"]["devices_max"] == [2, 5]

    # An empty price takes the plan out of sale.
    unsold = licensor("plans", "edit", "home", "--price", "")
    assert one_line(unsold.stdout) == "plan home: price: 19.50 -> not sold"
    assert _plan(database, "home").price_cents is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("home --price NaN", "error: 'NaN' is not a price like 29.99 (validation_failed)"),
        ("home --price 1e3", "error: '1e3' is not a price like 29.99 (validation_failed)"),
        (
            "home --devices 99999999999",
            "error: devices must be from 1 to 100,000 (validation_failed)",
        ),
        (
            "home --term-days 99999999999",
            "error: term days must be from 1 to 36,500 (validation_failed)",
        ),
        ("home --devices 0", None),  # refused by the option itself, before any database
        (
            "home",
            "error: nothing to change: give --name, --price, --subscription-price, --term-days, "
            "--devices, --entitlement, --transfer-limit, --transfer-period-days, "
            "--no-transfer-limit, --lease-seconds or --no-lease",
        ),
        ("nowhere --devices 4", "error: there is no plan 'nowhere' (plan_unknown)"),
    ],
)
def test_an_edit_out_of_bounds_is_refused_in_one_line_and_changes_nothing(
    licensor: Command, database: Database, arguments: str, message: str | None
) -> None:
    created = licensor(*"plans create --code home --name Home --term-days 365 --devices 2".split())
    assert created.returncode == 0, created.stderr

    refused = licensor("plans", "edit", *arguments.split())

    assert refused.returncode != 0
    if message is not None:
        assert one_line(refused.stderr) == message
    assert "Traceback" not in refused.stderr
    plan = _plan(database, "home")
    assert (plan.name, plan.term_days, plan.devices_max, plan.price_cents) == ("Home", 365, 2, None)
    assert audit_events(database, "plans.edited") == []


def test_a_retired_plan_leaves_the_store_and_makes_nothing_new_but_what_it_made_works(
    licensor: Command, database: Database, api: httpx.Client, tmp_path: Path
) -> None:
    created = licensor(
        *"plans create --code old --name Vintage --term-days 365 --devices 2 --price 9.99".split()
    )
    assert created.returncode == 0, created.stderr
    used, unused = _issue(licensor, "old", 2, tmp_path / "before.csv")
    machine = device()
    license_key = try_activate(api, used, machine).json()["license_key"]
    assert "Vintage" in api.get("/store").text

    retired = licensor("plans", "retire", "old")

    assert retired.returncode == 0, retired.stderr
    assert one_line(retired.stdout) == (
        "plan old retired: no longer sold, no new codes or orders; its licenses keep working"
    )
    # Out of the store...
    assert "Vintage" not in api.get("/store").text
    assert api.get("/store/old").status_code == 404
    # ...and out of new codes and orders, said in one line.
    said = re.compile(
        r"error: plan 'old' was retired on \d{4}-\d{2}-\d{2}: it makes no new codes or "
        r"orders \(plan_retired\)"
    )
    issued = licensor(
        *"codes issue --plan old --count 1 --out".split(), str(tmp_path / "after.csv")
    )
    ordered = licensor(*"orders create --plan old --email buyer@example.com --name Buyer".split())
    for refused in (issued, ordered):
        assert refused.returncode == 1
        assert said.fullmatch(one_line(refused.stderr)), refused.stderr
    assert not (tmp_path / "after.csv").exists()
    # What it made before keeps working: the license validates, the unused code activates.
    validated = api.post(
        "/api/v1/licenses/validate",
        json={"license_key": license_key, "fingerprint": machine["fingerprint"]},
    )
    assert validated.json()["valid"] is True
    assert try_activate(api, unused).status_code == 201
    # The list says so, and retiring again says it was already done.
    assert table_rows(licensor("plans", "list").stdout)[0][-1] == "retired"
    again = licensor("plans", "retire", "old")
    assert again.returncode == 1
    assert re.fullmatch(
        r"error: plan 'old' was already retired on \d{4}-\d{2}-\d{2} \(plan_retired\)",
        one_line(again.stderr),
    )
    [event] = audit_events(database, "plans.retired")
    assert (event.subject_type, event.subject_id) == ("plan", _plan(database, "old").id)


# --- a bad setting ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["plans", "list"], ["serve", "--port", "8766"], ["worker"]])
def test_a_bad_setting_is_named_in_one_line(tmp_path: Path, command: list[str]) -> None:
    environment = cli_environment(tmp_path / "var") | {
        "LICENSOR_OFFLINE_DAYS": "0",
        "LICENSOR_LOG_FORMAT": "yaml",
    }
    result = run("licensor", *command, environment=environment, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("configuration: LICENSOR_OFFLINE_DAYS: ")
    assert "greater than or equal to 1 (given '0')" in result.stderr
    assert "LICENSOR_LOG_FORMAT: Input should be 'console' or 'json' (given 'yaml')" in (
        result.stderr
    )


@pytest.mark.postgres_only
def test_a_role_without_rights_is_told_in_one_line(tmp_path: Path) -> None:
    import os
    import secrets

    from sqlalchemy.engine import make_url

    server = make_url(os.environ["LICENSOR_TEST_DATABASE_URL"])
    name = f"rights_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
        connection.execute(text(f"CREATE ROLE {name} LOGIN"))
    owner_url = server.set(database=name).render_as_string(hide_password=False)
    try:
        environment = cli_environment(tmp_path / "var", owner_url) | {
            "LICENSOR_CREATE_KEYS": "true"
        }
        assert run("licensor", "migrate", environment=environment, cwd=tmp_path).returncode == 0
        assert (
            run("licensor", "plans", "list", environment=environment, cwd=tmp_path).returncode == 0
        )
        environment["LICENSOR_DATABASE_URL"] = server.set(
            database=name, username=name
        ).render_as_string(hide_password=False)
        result = run("licensor", "plans", "list", environment=environment, cwd=tmp_path)
        assert result.stderr == (
            "error: cannot open the database: permission denied for table alembic_version\n"
        )
        owner = create_engine(owner_url, isolation_level="AUTOCOMMIT")
        with owner.connect() as connection:  # the schema is readable, the rows are not
            connection.execute(text(f"GRANT SELECT ON alembic_version TO {name}"))
        owner.dispose()
        result = run("licensor", "plans", "list", environment=environment, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("error: the database refused: permission denied")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            connection.execute(text(f"DROP ROLE IF EXISTS {name}"))
        admin.dispose()
