"""``licensor serve --workers N`` (N > 1) on SQLite is refused in one line (issue 13, item
6): SQLite lets one process write at a time, and a second process only queued for its
lock (activation p99 1.3-1.6 s against 0.3-0.7 s with one)."""

from __future__ import annotations

from pathlib import Path

from tests.cli_support import cli_environment, one_line, run
from tests.support import free_port


def test_more_than_one_web_process_on_sqlite_is_refused_saying_why_and_what_to_do(
    tmp_path: Path,
) -> None:
    environment = cli_environment(tmp_path)  # the embedded default: a SQLite file in var/

    served = run(
        "licensor",
        "serve",
        "--port",
        str(free_port()),
        "--workers",
        "2",
        environment=environment,
        cwd=tmp_path,
    )

    assert served.returncode == 1
    assert len(served.stderr.strip().splitlines()) == 1, served.stderr  # no traceback
    message = one_line(served.stderr)
    assert message.startswith("error: --workers 2 needs PostgreSQL:")
    assert "one process write at a time" in message
    assert "--workers 1" in message
    assert "LICENSOR_DATABASE_URL" in message
