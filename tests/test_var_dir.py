"""An unwritable ``var/`` ends ``serve``, ``demo``, ``migrate`` and ``worker`` in one line
naming the path and what to do (issue 13, item 9), as a non-root operator would meet it:
a path through a regular file (which fails for root too), and a directory of another user
(tests run as root here: the command then runs without root's power to override file
permissions, as an unprivileged user would)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_support import cli_environment, console_script, one_line
from tests.support import free_port

COMMANDS = [
    ["migrate"],
    ["serve", "--port", str(free_port())],
    ["worker", "--once"],
    ["demo", "--no-serve"],
    ["plans", "list"],
]
# Root, less what lets it write where the permissions say it may not.
AS_A_USER = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


def _licensor(var: Path, cwd: Path, *args: str, prefix: list[str] | None = None) -> str:
    """The one line ``licensor ARGS`` ends with (it must end with status 1)."""
    ran = subprocess.run(
        [*(prefix or []), str(console_script("licensor")), *args],
        env=cli_environment(var),  # the embedded default: SQLite under var/
        cwd=cwd,
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert ran.returncode == 1, (args, ran.stdout, ran.stderr)
    assert "Traceback" not in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    return one_line(ran.stderr)


def _expected(var: Path, reason: str) -> str:
    user = pwd.getpwuid(os.geteuid()).pw_name
    return (
        f"error: cannot write {var} ({reason}), where the SQLite database is kept: make it a "
        f"directory user {user} can write (e.g. `install -d -m 700 -o {user} {var}`), or set "
        "LICENSOR_VAR_DIR to one"
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
def test_a_var_dir_through_a_regular_file_is_refused_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    var = tmp_path / "a-file" / "var"

    assert _licensor(var, tmp_path, *command) == _expected(var, "Not a directory")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
def test_a_var_dir_of_another_user_is_refused_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("as root, needs setpriv (util-linux) to drop root's overrides")
        prefix = AS_A_USER
    var = tmp_path / "var"
    var.mkdir(mode=0o555)
    if os.geteuid() == 0:
        os.chown(var, pwd.getpwnam("nobody").pw_uid, -1)  # another user's, as it would be

    assert _licensor(var, tmp_path, *command, prefix=prefix) == _expected(var, "Permission denied")
    assert list(var.iterdir()) == []
