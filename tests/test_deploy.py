"""What deploys Licensor keeps working: `make test`'s Debian packages
(scripts/system-packages.sh), the wheel the container image installs, and the settings
and commands the Dockerfile, the compose file, the systemd units, the env examples and
docs/deploy.md name (Docker is not needed: the files are read, the wheel is built)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from licensor.config import Settings
from tests.cli_support import cli_environment, console_script, serving
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCRIPT = ROOT / "scripts" / "system-packages.sh"
MISSING = ("licensor-test-absent-one", "licensor-test-absent-two")
# The key files keys.py reads from LICENSOR_KEYS_DIR.
KEY_FILES = {"code-encryption.keys", "blind-index.key", "signing.keys"}
# The same keys given as values: never in the image or the compose file.
KEY_VARIABLES = {
    "LICENSOR_CODE_ENCRYPTION_KEYS",
    "LICENSOR_BLIND_INDEX_KEY",
    "LICENSOR_SIGNING_KEYS",
}

needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg-query") is None, reason="not a Debian system (no dpkg-query)"
)


# --- make test installs the Debian packages it needs ---------------------------------


def _fake_root_tools(directory: Path, *, uid: int, sudo: str | None) -> Path:
    """A PATH of the real dpkg-query, grep and env, and fakes of id, apt-get and sudo
    (``sudo``: "works" without a password, "asks" for one, None: not installed). The fakes
    log each call to ``calls.log``; nothing is installed."""
    directory.mkdir()
    log = directory / "calls.log"
    for tool in ("dpkg-query", "grep", "env"):
        (directory / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    fakes = {
        "id": f'[ "$1" = -u ] && echo {uid}',
        "apt-get": f'echo "apt-get $*" >>{log}',
    }
    if sudo is not None:
        allowed = 0 if sudo == "works" else 1
        fakes["sudo"] = (
            f'[ "$*" = "-n true" ] && exit {allowed}\n'
            f'echo "sudo $*" >>{log}\n[ "$1" = -n ] && shift\nexec "$@"'
        )
    for name, body in fakes.items():
        (directory / name).write_text(f"#!/bin/sh\n{body}\n")
        (directory / name).chmod(0o755)
    return directory


def _system_packages(
    tmp_path: Path, packages: str, *, uid: int, sudo: str | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    tools = _fake_root_tools(tmp_path / "bin", uid=uid, sudo=sudo)
    ran = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT)],
        env={"PATH": str(tools), "SYSTEM_PACKAGES": packages, "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    log = tools / "calls.log"
    return ran, log.read_text().splitlines() if log.exists() else []


@needs_dpkg
def test_nothing_is_installed_when_every_package_is_there(tmp_path: Path) -> None:
    ran, calls = _system_packages(tmp_path, "bash coreutils", uid=1000)
    assert (ran.returncode, ran.stdout, ran.stderr, calls) == (0, "", "", [])


@needs_dpkg
def test_root_installs_only_the_missing_packages(tmp_path: Path) -> None:
    ran, calls = _system_packages(tmp_path, f"bash {' '.join(MISSING)}", uid=0)
    assert ran.returncode == 0, ran.stderr
    assert calls == [
        "apt-get update -qq",
        f"apt-get install -y -qq --no-install-recommends {' '.join(MISSING)}",
    ]


@needs_dpkg
def test_a_user_installs_through_sudo_when_it_asks_no_password(tmp_path: Path) -> None:
    ran, calls = _system_packages(tmp_path, " ".join(MISSING), uid=1000, sudo="works")
    assert ran.returncode == 0, ran.stderr
    assert calls[0] == "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq"
    assert calls[-1] == f"apt-get install -y -qq --no-install-recommends {' '.join(MISSING)}"


@needs_dpkg
@pytest.mark.parametrize(("sudo", "become"), [("asks", "sudo sh -c"), (None, "su -c")])
def test_without_root_it_stops_with_the_one_command_that_installs(
    tmp_path: Path, sudo: str | None, become: str
) -> None:
    ran, calls = _system_packages(tmp_path, f"bash {MISSING[0]}", uid=1000, sudo=sudo)
    assert ran.returncode == 1
    assert calls == []
    (line,) = ran.stderr.splitlines()
    command = f"apt-get update && apt-get install -y --no-install-recommends {MISSING[0]}"
    assert line.endswith(f"install them with: {become} '{command}'")


def _make_dry_run(target: str) -> list[str]:
    # Under `make test` this runs inside make: without its variables, and without the
    # "Entering directory" lines a nested make prints.
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
    }
    ran = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return ran.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_installs_the_packages_first_and_make_demo_never() -> None:
    assert _make_dry_run("test")[0] == "scripts/system-packages.sh"
    assert not any("system-packages" in line for line in _make_dry_run("demo"))


# --- the wheel the image installs ----------------------------------------------------


def _build_stage_sources() -> list[str]:
    """What the Dockerfile's first stage copies into the build: COPY SRC... DEST lines."""
    stage = ROOT.joinpath("Dockerfile").read_text().split("\nFROM ")[1]
    sources: list[str] = []
    for line in stage.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources += line.split()[1:-1]
    return sources


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """Licensor's wheel, built as the image's first stage builds it: from what it copies
    (the rest of the checkout stays out, as .dockerignore keeps it out)."""
    if os.environ.get("LICENSOR_TEST_DATABASE_URL"):
        pytest.skip("no database involved: built on the SQLite run only")
    context = tmp_path_factory.mktemp("context")
    for source in _build_stage_sources():
        if (ROOT / source).is_dir():
            shutil.copytree(
                ROOT / source,
                context / source,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
            )
        else:
            shutil.copy2(ROOT / source, context / source)
    out = tmp_path_factory.mktemp("wheels")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(out), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (made,) = out.glob("licensor-*.whl")
    with zipfile.ZipFile(made) as archive:
        yield archive


def _source_files() -> set[str]:
    """The files under src/ in the checkout, tracked or new (not ignored), as the wheel
    names them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "src"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return {name.removeprefix("src/") for name in listed if (ROOT / name).is_file()}


@pytest.mark.slow
def test_the_wheel_holds_every_file_of_the_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert _source_files() - names == set()
    # The kinds of package data a server cannot start or answer without.
    for needed in (
        "licensor/migrations/env.py",
        "licensor/migrations/script.py.mako",
        "licensor/web/locale/it/LC_MESSAGES/messages.po",
        "licensor/web/static/style.css",
        "licensor/mail/templates/order_confirmation/it/body.html",
        "licensor/web/templates/help/en/license-details.html",
    ):
        assert needed in names
    assert any(re.fullmatch(r"licensor/migrations/versions/0009_\w+\.py", n) for n in names)
    assert sum(n.endswith(".html") and "/templates/" in n for n in names) > 40


# --- the settings and commands the deploy files name ---------------------------------


def _deploy_texts() -> dict[str, str]:
    """Every file that deploys Licensor, and the page that tells how, by its path."""
    paths = [ROOT / "Dockerfile", ROOT / "docs" / "deploy.md"]
    paths += [p for p in sorted(DEPLOY.rglob("*")) if p.is_file() and p.name != ".gitignore"]
    return {str(p.relative_to(ROOT)): p.read_text() for p in paths}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def _substituted(value: str) -> str:
    """A compose value as `docker compose` fills it: ${NAME:-default} with its default,
    ${NAME:?message} (which the operator's .env must give) with a sample."""
    return re.sub(
        r"\$\{\w+(?::-([^}]*)|[^}]*)\}", lambda m: m[1] if m[1] is not None else "x", value
    )


def test_every_setting_named_exists() -> None:
    named = {
        (path, name)
        for path, text in _deploy_texts().items()
        for name in re.findall(r"\bLICENSOR_([A-Z0-9_]+)", text)
    }
    assert len({name for _, name in named}) > 15
    unknown = sorted(
        f"{path}: LICENSOR_{name}"
        for path, name in named
        if name.lower() not in Settings.model_fields
    )
    assert unknown == []


def test_docs_deploy_names_every_setting() -> None:
    """A setting added to config.py gets its line in docs/deploy.md's table of settings."""
    doc = ROOT.joinpath("docs", "deploy.md").read_text()
    named = {name.lower() for name in re.findall(r"\bLICENSOR_([A-Z0-9_]+)", doc)}
    assert sorted(set(Settings.model_fields) - named) == []


def _env_example(path: Path) -> dict[str, str]:
    """The settings an env file sets, as systemd's EnvironmentFile= reads them."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value[1:-1] if value[:1] == value[-1:] == "'" else value
    return values


@pytest.mark.parametrize("source", ["licensor.env.example", "compose.yaml"])
def test_the_settings_given_are_valid_values(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if source == "compose.yaml":
        given = {
            name: _substituted(str(value))
            for name, value in _compose()["x-licensor"]["environment"].items()
        }
    else:
        given = _env_example(DEPLOY / source)
    for name in [name for name in os.environ if name.startswith("LICENSOR_")]:
        monkeypatch.delenv(name)
    for name, value in given.items():
        assert name.startswith("LICENSOR_")
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.creates_keys is False
    assert settings.resolved_database_url.startswith("postgresql+psycopg://")
    assert settings.log_format == "json"


def _invocations() -> set[tuple[str, ...]]:
    """Each `licensor ...` the deploy files run: the image's command, the compose
    services', the systemd units' ExecStart, and the commands docs/deploy.md shows."""
    found: set[tuple[str, ...]] = set()
    dockerfile = ROOT.joinpath("Dockerfile").read_text()
    found.add(tuple(json.loads(re.findall(r"^CMD (.+)$", dockerfile, re.M)[-1])[1:]))
    for service in _compose()["services"].values():
        command = service.get("command")
        if command and command[0] == "licensor":
            found.add(tuple(command[1:]))
    for unit in (DEPLOY / "systemd").glob("*.service"):
        for line in re.findall(r"^ExecStart=(.+)$", unit.read_text(), re.M):
            words = shlex.split(line)
            assert words[0].endswith("/bin/licensor")
            found.add(tuple(words[1:]))
    doc = ROOT.joinpath("docs", "deploy.md").read_text()
    for line in re.findall(r"\blicensor ([a-z][^`\n]*)", doc):
        # Up to a comment, the next command, or words in parentheses (the page's diagram).
        command = re.split(r" #| &&|;| \(", line)[0]
        found.add(tuple(shlex.split(command)))
    return found


def test_every_command_run_exists_with_its_options(tmp_path: Path) -> None:
    invocations = _invocations()
    assert {("serve",), ("worker",), ("migrate",)} <= {
        tuple(w for w in words if not w.startswith("-"))[:1] for words in invocations
    }
    # The options each command is given, by the command's path (`codes issue`).
    options: dict[tuple[str, ...], set[str]] = {}
    for words in invocations:
        # The command's words lead; an argument shown as a placeholder (SLUG) ends them.
        named = next((i for i, w in enumerate(words) if not re.fullmatch(r"[a-z][a-z-]*", w)), None)
        options.setdefault(words[:named], set()).update(
            word.split("=")[0] for word in words if word.startswith("--")
        )
    environment = cli_environment(tmp_path) | {"COLUMNS": "200"}

    def problems(path: tuple[str, ...]) -> list[str]:
        helped = subprocess.run(
            [str(console_script("licensor")), *path, "--help"],
            env=environment,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        command = " ".join(("licensor", *path))
        if helped.returncode != 0:
            said = " ".join(re.sub(r"[─│╭╮╰╯]", " ", helped.stderr).split())
            return [f"{command}: {said[-200:]}"]
        return [
            f"{command}: no {option}"
            for option in sorted(options[path])
            if not re.search(rf"{re.escape(option)}\b", helped.stdout)
        ]

    # Each command's --help in a process of its own (about a second each), a few at once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = [problem for listed in pool.map(problems, sorted(options)) for problem in listed]
    assert found == []


# --- the image, the compose file and the units ---------------------------------------


def test_the_image_runs_serve_as_a_user_checks_healthz_and_holds_no_key() -> None:
    dockerfile = ROOT.joinpath("Dockerfile").read_text()
    # Debian 12 as the hosts of docs/deploy.md, both stages (the wheels match the image).
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["python:3.11-slim-bookworm"] * 2
    assert re.search(r"^USER licensor$", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK .*/healthz", dockerfile, re.M | re.S)
    assert not any(variable in dockerfile for variable in KEY_VARIABLES)
    # Only what the first stage copies reaches the builder: never var/ (a demo's keys).
    ignored = ROOT.joinpath(".dockerignore").read_text().split()
    assert ignored[ignored.index("*") :].count("*") == 1
    assert {f"!{source.rstrip('/')}" for source in _build_stage_sources()} <= set(ignored)


def test_compose_runs_the_topology_with_keys_from_secrets() -> None:
    compose = _compose()
    services = compose["services"]
    commands = {name: tuple(s.get("command") or ()) for name, s in services.items()}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:")
    assert services["pgbouncer"]["profiles"] == ["pgbouncer"]
    serving = [name for name, command in commands.items() if command[:2] == ("licensor", "serve")]
    working = [name for name, command in commands.items() if command[:2] == ("licensor", "worker")]
    assert (len(serving), len(working)) == (2, 1)
    assert commands["migrate"] == ("licensor", "migrate")
    assert services["migrate"]["restart"] == "no"
    for name in (*serving, *working):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        keys_dir = Path(services[name]["environment"]["LICENSOR_KEYS_DIR"])
        targets = {Path(secret["target"]) for secret in services[name]["secrets"]}
        assert targets == {keys_dir / key_file for key_file in KEY_FILES}
        assert not KEY_VARIABLES & set(services[name]["environment"])
    assert set(compose["secrets"]) == {s["source"] for s in services["worker"]["secrets"]}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    units = sorted((DEPLOY / "systemd").glob("*.*"))
    assert {unit.name for unit in units} >= {"licensor-serve.service", "licensor-worker@.service"}
    for unit in units:
        # Verified with the command this checkout installed where a release's would be.
        text = unit.read_text().replace(
            "/opt/licensor/current/bin/licensor", str(console_script("licensor"))
        )
        tmp_path.joinpath(unit.name).write_text(text)
    verified = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / unit.name) for unit in units)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


# --- the database roles -----------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.slow
def test_serve_and_commands_need_only_rows_that_the_owner_grants(tmp_path: Path) -> None:
    """deploy/postgres/initdb.sh's roles, as the compose file's PostgreSQL makes them:
    `licensor migrate` as the owner, then serve and a command as a role with rows only,
    which cannot switch the audit trail's triggers off."""
    server = make_url(os.environ["LICENSOR_TEST_DATABASE_URL"])
    suffix = os.urandom(4).hex()
    owner, app, name = f"deploy_owner_{suffix}", f"deploy_app_{suffix}", f"deploy_{suffix}"
    pg_bin = Path(os.environ["LICENSOR_TEST_PG_BIN"])
    connection = {"PGHOST": str(server.host), "PGPORT": str(server.port)}

    def psql(user: str, database: str, statement: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(pg_bin / "psql"),
                "-U",
                user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ],
            env=os.environ | connection,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    superuser, maintenance = str(server.username), str(server.database)
    # The image's POSTGRES_USER: a superuser that owns the database.
    assert psql(superuser, maintenance, f"CREATE ROLE {owner} SUPERUSER LOGIN").returncode == 0
    try:
        assert psql(superuser, maintenance, f"CREATE DATABASE {name} OWNER {owner}").returncode == 0
        initdb = subprocess.run(
            ["sh", str(DEPLOY / "postgres" / "initdb.sh")],
            env=os.environ
            | connection
            | {
                "PATH": f"{pg_bin}:{os.environ['PATH']}",
                "POSTGRES_USER": owner,
                "POSTGRES_DB": name,
                "DATABASE_USER": app,
                "DATABASE_PASSWORD": "unused",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert initdb.returncode == 0, initdb.stderr
        environment = cli_environment(tmp_path / "var") | {"LICENSOR_CREATE_KEYS": "true"}
        as_owner = environment | {
            "LICENSOR_DATABASE_URL": str(server.set(username=owner, database=name)),
            "PGOPTIONS": "-c statement_timeout=0",
        }
        migrated = subprocess.run(
            [str(console_script("licensor")), "migrate"],
            env=as_owner,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr
        as_app = environment | {
            "LICENSOR_DATABASE_URL": str(server.set(username=app, database=name)),
            "LICENSOR_PASSWORD": "a passphrase long enough for staff",
        }
        created = subprocess.run(
            [
                str(console_script("licensor")),
                "users",
                "create",
                "--email",
                "admin@example.com",
                "--role",
                "admin",
            ],
            env=as_app,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        with serving(as_app, tmp_path, free_port()) as url:
            ready = httpx.get(f"{url}/readyz", timeout=10)
        assert (ready.status_code, ready.json()["checks"]["database"]) == (200, "ok")
        refused = psql(app, name, "ALTER TABLE audit_events DISABLE TRIGGER ALL")
        assert "must be owner" in refused.stderr
    finally:
        psql(superuser, maintenance, f"DROP DATABASE IF EXISTS {name}")
        psql(superuser, maintenance, f"DROP ROLE IF EXISTS {app}")
        psql(superuser, maintenance, f"DROP ROLE IF EXISTS {owner}")
