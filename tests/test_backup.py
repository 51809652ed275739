"""Backups and restore (issue 13, item 11), drilled as an operator would: data made
through the API, ``licensor backup`` while the server runs and writes, var/ wiped but for
the keys kept apart, ``licensor restore``, served again: the license still validates and
its code is still known. A backup restored with other keys is refused in one line, and so
is every other mistake the commands can see."""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import stat
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.keys import b64url
from tests.cli_support import cli_environment, one_line, read_codes, run, serving
from tests.licensing.factories import activate, device
from tests.support import free_port

PLAN_TERMS = ("--term-days", "365", "--devices", "2")


@dataclass
class Installation:
    """An embedded installation (SQLite and keys under var/) with a backup of it."""

    home: Path
    environment: dict[str, str]
    keys_apart: Path  # a copy of var/keys, kept where the operator keeps keys
    backup: Path
    backup_output: str
    code: str
    machine: dict[str, str]
    license_key: str
    activated_during_backup: int

    @property
    def var(self) -> Path:
        return self.home / "var"


def licensor(home: Path, environment: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = run("licensor", *args, environment=environment, cwd=home)
    return done.returncode, done.stdout, done.stderr


def installation_environment(var: Path) -> dict[str, str]:
    environment = cli_environment(var)  # the embedded default: SQLite and keys under var
    environment["LICENSOR_ACTIVATION_RATE"] = "10000/minute"
    return environment


def refused(outcome: tuple[int, str, str]) -> str:
    """The one line a command that refused wrote (and that it refused)."""
    status, _, error = outcome
    assert status == 1, outcome
    assert "Traceback" not in error
    assert len(error.strip().splitlines()) == 1, error
    return error.strip()


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    home = tmp_path_factory.mktemp("backup-drill")
    environment = installation_environment(home / "var")
    for command in (
        ("migrate",),
        ("plans", "create", "--code", "standard", "--name", "Standard", *PLAN_TERMS),
        ("codes", "issue", "--plan", "standard", "--count", "40", "--out", str(home / "c.csv")),
    ):
        status, _, error = licensor(home, environment, *command)
        assert status == 0, error
    _, codes = read_codes(home / "c.csv")
    machine = device()
    backup = home / "backups" / "licensor.db"
    backup.parent.mkdir()

    with serving(environment, home, free_port()) as url, httpx.Client(base_url=url) as api:
        license_key = activate(api, codes[0], machine)["license_key"]
        activated: list[Any] = []
        stop = threading.Event()

        def keep_writing() -> None:  # activations go on while the backup is taken
            for code in codes[1:]:
                if stop.is_set():
                    return
                activated.append(activate(api, code, device()))

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            status, output, error = licensor(home, environment, "backup", "--out", str(backup))
        finally:
            stop.set()
            writer.join()
    assert status == 0, error

    keys_apart = home / "keys-apart"
    shutil.copytree(home / "var" / "keys", keys_apart)
    return Installation(
        home=home,
        environment=environment,
        keys_apart=keys_apart,
        backup=backup,
        backup_output=one_line(output),
        code=codes[0],
        machine=machine,
        license_key=license_key,
        activated_during_backup=len(activated),
    )


@pytest.mark.slow
def test_a_backup_taken_while_the_server_writes_restores_a_working_installation(
    installation: Installation,
) -> None:
    home, environment = installation.home, installation.environment
    assert stat.S_IMODE(installation.backup.stat().st_mode) == 0o600
    assert "holds no keys" in installation.backup_output
    assert str((installation.var / "keys").resolve()) in installation.backup_output
    assert installation.activated_during_backup > 0

    # The host is lost: var/ with it. The keys come back from where they were kept apart.
    shutil.rmtree(installation.var)
    shutil.copytree(installation.keys_apart, installation.var / "keys")
    status, output, error = licensor(home, environment, "restore", str(installation.backup))

    assert status == 0, error
    assert "match it (a stored activation code decrypts to itself)" in one_line(output)
    assert stat.S_IMODE((installation.var / "licensor.db").stat().st_mode) == 0o600
    with serving(environment, home, free_port()) as url, httpx.Client(base_url=url) as api:
        validated = api.post(
            "/api/v1/licenses/validate",
            json={
                "license_key": installation.license_key,
                "fingerprint": installation.machine["fingerprint"],
            },
        )
        again = activate(api, installation.code, installation.machine)
    assert validated.status_code == 200, validated.text
    assert validated.json()["valid"] is True
    assert again["license_key"] == installation.license_key  # the code is still known


def test_a_backup_restored_with_other_keys_is_refused_in_one_line(
    installation: Installation, tmp_path: Path
) -> None:
    environment = installation_environment(tmp_path / "var")
    environment.update(  # another installation's keys, given as the key variables
        LICENSOR_CODE_ENCRYPTION_KEYS=f"other:{b64url(secrets.token_bytes(32))}",
        LICENSOR_BLIND_INDEX_KEY=f"other:{b64url(secrets.token_bytes(32))}",
        LICENSOR_SIGNING_KEYS=f"other:{b64url(secrets.token_bytes(32))}",
    )

    line = refused(licensor(tmp_path, environment, "restore", str(installation.backup)))

    assert "the keys in the LICENSOR_* key variables do not match" in line
    assert "does not decrypt" in line
    assert not (tmp_path / "var" / "licensor.db").exists()


def test_restore_refuses_what_is_not_a_licensor_database_and_will_not_overwrite_unasked(
    installation: Installation, tmp_path: Path
) -> None:
    environment = installation_environment(tmp_path / "var")
    shutil.copytree(installation.keys_apart, tmp_path / "var" / "keys")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    there = tmp_path / "var" / "licensor.db"
    there.write_bytes(b"the database in use")

    assert "is not a Licensor database" in refused(
        licensor(tmp_path, environment, "restore", str(notes))
    )
    assert "--force" in refused(
        licensor(tmp_path, environment, "restore", str(installation.backup))
    )
    assert there.read_bytes() == b"the database in use"
    status, _, error = licensor(
        tmp_path, environment, "restore", "--force", str(installation.backup)
    )
    assert status == 0, error
    with closing(sqlite3.connect(there)) as restored:
        assert restored.execute("SELECT count(*) FROM activation_codes").fetchone() == (40,)


def test_backup_refuses_the_keys_directory_and_names_pg_dump_for_postgresql(
    tmp_path: Path,
) -> None:
    environment = installation_environment(tmp_path / "var")
    keys = tmp_path / "keys"
    keys.mkdir()
    environment["LICENSOR_KEYS_DIR"] = str(keys)

    assert "inside the keys directory" in refused(
        licensor(tmp_path, environment, "backup", "--out", str(keys / "licensor.db"))
    )
    assert not (keys / "licensor.db").exists()
    on_postgresql = dict(
        environment, LICENSOR_DATABASE_URL="postgresql+psycopg://licensor@127.0.0.1:1/licensor"
    )
    assert "pg_dump" in refused(
        licensor(tmp_path, on_postgresql, "backup", "--out", str(tmp_path / "b.db"))
    )
