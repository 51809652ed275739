"""A host whose keys did not make its database refuses to start (SPEC "operations"; issue
13, item 4): each key's check value is kept in the database the first time a process
starts with it, and every start compares, in one line naming the keys and what to do.

Hosts are started as an operator starts them: ``licensor serve`` (and the worker, and a
command) as subprocesses on the session's database, SQLite or PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from licensor.api import create_app
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import KEY_FILES, Keyring, b64url, load_keyring
from licensor.models import KeyCheck
from tests.cli_support import answers, cli_environment, one_line, run, serving
from tests.licensing.factories import MakeCode, device
from tests.support import free_port, serve

REMEDY = (
    "start with the keys that made this database (LICENSOR_KEYS_DIR or the LICENSOR_* key "
    "variables; docs/keys.md)"
)


def _key_ids(directory: Path) -> dict[str, str]:
    """The id of the first key in each key file of ``directory``, by file name."""
    return {name: (directory / name).read_text().split(":", 1)[0] for name in KEY_FILES}


def _recorded(database: Database) -> set[tuple[str, str]]:
    with database.transaction() as session:
        return {(row.kind, row.key_id) for row in session.scalars(select(KeyCheck))}


@pytest.fixture
def first_host(settings: Settings, database: Database, keyring: Keyring) -> dict[str, str]:
    """The environment of a host with the keys that made the session's database (the
    keyring fixture makes them)."""
    return cli_environment(settings.var_dir, settings.resolved_database_url)


def _other_keys(tmp_path: Path) -> Path:
    """Keys of another installation, made as an operator makes them."""
    directory = tmp_path / "other-keys"
    made = run(
        "licensor",
        "keys",
        "create",
        "--dir",
        str(directory),
        environment=cli_environment(tmp_path / "var"),
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    return directory


def test_a_second_host_started_with_other_keys_refuses_to_start_and_names_them(
    first_host: dict[str, str], settings: Settings, database: Database, tmp_path: Path
) -> None:
    other = _other_keys(tmp_path)
    second_host = cli_environment(tmp_path / "second", settings.resolved_database_url)
    second_host["LICENSOR_KEYS_DIR"] = str(other)
    ours, theirs = _key_ids(settings.resolved_keys_dir), _key_ids(other)
    expected = (
        "key material: these keys did not make this database ("
        f"encryption key '{theirs['code-encryption.keys']}' is not the database's "
        f"'{ours['code-encryption.keys']}'; "
        f"blind index key '{theirs['blind-index.key']}' is not the database's "
        f"'{ours['blind-index.key']}'; "
        f"signing key '{theirs['signing.keys']}' is not the database's '{ours['signing.keys']}'"
        f"): {REMEDY}"
    )

    with serving(first_host, tmp_path, free_port(), ready="/readyz") as first:
        assert httpx.get(f"{first}/readyz").json()["checks"]["keys"] == "ok"
        for command in (
            ["serve", "--port", str(free_port())],
            ["worker", "--once"],
            ["plans", "list"],
        ):
            refused = run("licensor", *command, environment=second_host, cwd=tmp_path)

            assert refused.returncode == 1, command
            assert one_line(refused.stderr) == expected, command
            assert "Traceback" not in refused.stderr
        assert answers(first, "/readyz")  # the first host serves on

    assert _recorded(database) == {
        ("encryption", ours["code-encryption.keys"]),
        ("blind_index", ours["blind-index.key"]),
        ("signing", ours["signing.keys"]),
    }


@pytest.mark.postgres_only
def test_a_host_on_postgresql_without_keys_refuses_to_start_and_says_how_to_make_them(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    keyless = cli_environment(var, settings.resolved_database_url)
    expected = (
        "key material: no keys: code-encryption.keys, blind-index.key, signing.keys not in "
        f"{var / 'keys'}, nor in the LICENSOR_* key variables; hosts sharing a PostgreSQL "
        "database must share its keys, so none is made here: create them once with "
        "`licensor keys create --dir DIR`, then start every host with LICENSOR_KEYS_DIR=DIR "
        "(docs/keys.md)"
    )

    for command in (["serve", "--port", str(free_port())], ["worker", "--once"], ["plans", "list"]):
        refused = run("licensor", *command, environment=keyless, cwd=tmp_path)

        assert refused.returncode == 1, command
        assert one_line(refused.stderr) == expected, command
    assert not (var / "keys").exists()  # no fresh keys made behind the operator's back
    assert _recorded(database) == set()

    # Made as the message says, the keys are this database's from their first start on.
    made = run(
        "licensor",
        "keys",
        "create",
        "--dir",
        str(tmp_path / "keys"),
        environment=keyless,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    keyless["LICENSOR_KEYS_DIR"] = str(tmp_path / "keys")
    started = run("licensor", "plans", "list", environment=keyless, cwd=tmp_path)
    assert started.returncode == 0, started.stderr


def test_the_embedded_default_still_makes_its_keys_on_first_start(tmp_path: Path) -> None:
    embedded = cli_environment(tmp_path / "var")  # no database URL: SQLite under var/

    assert run("licensor", "migrate", environment=embedded, cwd=tmp_path).returncode == 0
    listed = run("licensor", "plans", "list", environment=embedded, cwd=tmp_path)

    assert listed.returncode == 0, listed.stderr
    assert sorted(path.name for path in (tmp_path / "var" / "keys").iterdir()) == sorted(KEY_FILES)


def test_a_rotated_keyring_starts_and_keeps_serving_what_the_old_keys_made(
    first_host: dict[str, str],
    settings: Settings,
    database: Database,
    make_code: MakeCode,
    tmp_path: Path,
) -> None:
    keys = settings.resolved_keys_dir
    assert run("licensor", "plans", "list", environment=first_host, cwd=tmp_path).returncode == 0
    code = make_code()  # encrypted and indexed under the old keys

    # A new first key for encryption and for signing, each old one kept behind it.
    rotated = dict(first_host)
    for variable, name, secret in (
        ("LICENSOR_CODE_ENCRYPTION_KEYS", "code-encryption.keys", bytes(range(32))),
        ("LICENSOR_SIGNING_KEYS", "signing.keys", bytes(range(32, 64))),
    ):
        rotated[variable] = f"rotated:{b64url(secret)},{(keys / name).read_text().strip()}"
    with serving(rotated, tmp_path, free_port(), ready="/readyz") as url:
        activated = httpx.post(
            f"{url}/api/v1/activations", json={"activation_code": code, "device": device()}
        )
        assert activated.status_code == 201, activated.text
        assert httpx.get(f"{url}/readyz").json()["checks"]["keys"] == "ok"

    old = _key_ids(keys)
    assert _recorded(database) == {
        ("encryption", old["code-encryption.keys"]),
        ("encryption", "rotated"),
        ("blind_index", old["blind-index.key"]),
        ("signing", old["signing.keys"]),
        ("signing", "rotated"),
    }
    # A host not yet given the new keys still starts: the old ones are still this database's.
    assert run("licensor", "plans", "list", environment=first_host, cwd=tmp_path).returncode == 0


def test_a_key_under_a_known_id_but_of_other_bytes_is_refused(
    first_host: dict[str, str], settings: Settings, database: Database, tmp_path: Path
) -> None:
    assert run("licensor", "plans", "list", environment=first_host, cwd=tmp_path).returncode == 0
    signing_id = _key_ids(settings.resolved_keys_dir)["signing.keys"]
    impostor = dict(first_host, LICENSOR_SIGNING_KEYS=f"{signing_id}:{b64url(bytes(32))}")

    refused = run("licensor", "worker", "--once", environment=impostor, cwd=tmp_path)

    assert refused.returncode == 1
    assert one_line(refused.stderr) == (
        "key material: these keys did not make this database ("
        f"signing key '{signing_id}' is another key under the same id): {REMEDY}"
    )


def test_a_database_from_before_check_values_gets_them_at_first_start_with_the_right_keys(
    first_host: dict[str, str],
    settings: Settings,
    database: Database,
    keyring: Keyring,
    make_code: MakeCode,
    tmp_path: Path,
) -> None:
    make_code()  # data, and no check value yet: a database an older version wrote
    assert _recorded(database) == set()
    other = _other_keys(tmp_path)
    stranger = dict(first_host, LICENSOR_KEYS_DIR=str(other))
    their_encryption = _key_ids(settings.resolved_keys_dir)["code-encryption.keys"]

    refused = run("licensor", "plans", "list", environment=stranger, cwd=tmp_path)
    assert refused.returncode == 1
    assert one_line(refused.stderr) == (
        "key material: these keys did not make this database (encryption key "
        f"'{their_encryption}', which encrypted the database's codes, is not here): {REMEDY}"
    )
    assert _recorded(database) == set()  # nothing recorded from the wrong keys

    started = run("licensor", "plans", "list", environment=first_host, cwd=tmp_path)

    assert started.returncode == 0, started.stderr
    with database.transaction() as session:
        recorded = {
            (row.kind, row.key_id, row.check_value) for row in session.scalars(select(KeyCheck))
        }
    assert recorded == {(check.kind, check.key_id, check.value) for check in keyring.check_values}


def test_readyz_says_which_keys_are_not_the_databases(
    first_host: dict[str, str], settings: Settings, database: Database, tmp_path: Path
) -> None:
    assert run("licensor", "plans", "list", environment=first_host, cwd=tmp_path).returncode == 0
    other = _other_keys(tmp_path)
    theirs = _key_ids(settings.resolved_keys_dir)
    app = create_app(settings, keyring=load_keyring(Settings(keys_dir=other, _env_file=None)))
    try:
        with serve(app) as url:
            ready = httpx.get(f"{url}/readyz", timeout=30)
    finally:
        app.state.db.dispose()

    assert ready.status_code == 503
    keys = ready.json()["checks"]["keys"]
    assert keys.startswith("do not match the database: encryption key ")
    assert f"is not the database's '{theirs['blind-index.key']}'" in keys
