"""What Licensor keeps on disk is its own user's only: var/ and var/keys 0700, the SQLite
database and its -wal and -shm 0600, the keys 0600; created so whatever the umask, and
tightened at a start when found looser."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from licensor.api import create_app
from licensor.config import Settings
from tests.cli_support import cli_environment, run


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask most systems give: new files 0644, new directories 0755."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _assert_private(var: Path) -> None:
    assert _mode(var) == 0o700
    assert _mode(var / "keys") == 0o700
    key_files = list((var / "keys").iterdir())
    assert key_files
    for key_file in key_files:
        assert _mode(key_file) == 0o600, key_file
    assert _mode(var / "licensor.db") == 0o600


def test_a_first_start_creates_var_the_keys_and_the_database_private(
    tmp_path: Path, loose_umask: None
) -> None:
    var = tmp_path / "var"
    environment = cli_environment(var)

    for command in (("migrate",), ("keys", "show")):
        done = run("licensor", *command, environment=environment, cwd=tmp_path)
        assert done.returncode == 0, done.stderr

    _assert_private(var)


def test_a_start_tightens_what_it_finds_looser_and_sqlite_companions_follow(
    tmp_path: Path, loose_umask: None
) -> None:
    var = tmp_path / "var"
    environment = cli_environment(var)
    for command in (("migrate",), ("keys", "show")):
        assert run("licensor", *command, environment=environment, cwd=tmp_path).returncode == 0
    for directory in (var, var / "keys"):
        directory.chmod(0o755)
    for path in (var / "licensor.db", *(var / "keys").iterdir()):
        path.chmod(0o644)

    app = create_app(Settings(var_dir=var, log_level="ERROR", _env_file=None))
    try:
        _assert_private(var)
        with app.state.db.engine.begin() as connection:  # WAL mode: -wal and -shm appear
            connection.execute(text("CREATE TABLE scratch (x INTEGER)"))
            companions = [var / "licensor.db-wal", var / "licensor.db-shm"]
            assert all(path.exists() for path in companions)
            for path in companions:
                assert _mode(path) == 0o600, path
    finally:
        app.state.db.dispose()
