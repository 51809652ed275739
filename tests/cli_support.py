"""Running the installed console scripts as a vendor's shell would: a subprocess each time."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import httpx

from licensor.config import Settings

# Variables that would make Rich's output depend on the terminal the tests run in.
_TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "LINES", "TERM")


class Command(Protocol):
    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]: ...


def console_script(name: str) -> Path:
    """The installed script: beside this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (pip install -e .)")
    return Path(found)


def cli_environment(var_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """This process's environment without any LICENSOR_* setting, plus the given ones.

    Output goes to a pipe 80 columns wide with no colour, as in a script or a log.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LICENSOR_") and name not in _TERMINAL_VARIABLES
    }
    environment.update(
        LICENSOR_VAR_DIR=str(var_dir),
        LICENSOR_LOG_LEVEL="WARNING",
        NO_COLOR="1",
        COLUMNS="80",
        PYTHONIOENCODING="utf-8",
    )
    if database_url is not None:
        environment["LICENSOR_DATABASE_URL"] = database_url
    return environment


def run(
    script: str, *args: str, environment: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(console_script(script)), *args],
        env=environment,
        cwd=cwd,  # away from the repository, so no .env file is read
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def licensor(cwd: Path, settings: Settings, *args: str) -> tuple[int, str, str]:
    """``licensor ARGS...`` on the test database and var dir (the test server's keys):
    its exit status, output and errors."""
    environment = cli_environment(settings.var_dir, settings.database_url)
    ran = run("licensor", *args, environment=environment, cwd=cwd)
    return ran.returncode, ran.stdout, ran.stderr


def one_line(text: str) -> str:
    """Whitespace folded, to match a message wherever the terminal broke it."""
    return " ".join(text.split())


def table_rows(output: str) -> list[list[str]]:
    """The body cells of a Rich table, one list per row."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def read_codes(path: Path) -> tuple[list[str], list[str]]:
    """The header and the first column of a card-printer CSV."""
    with path.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, [row[0] for row in rows]


@contextmanager
def serving(
    environment: dict[str, str], cwd: Path, port: int, *arguments: str, ready: str = "/healthz"
) -> Iterator[str]:
    """``licensor serve --port PORT ARGUMENTS...`` in a process of its own, as an operator
    starts it (its output kept in ``cwd/serve-PORT.log``); its URL once ``ready`` answers
    200. Stopped afterwards (``stop``)."""
    command = [str(console_script("licensor")), "serve", "--port", str(port), *arguments]
    url = f"http://127.0.0.1:{port}"
    log_path = cwd / f"serve-{port}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, env=environment, cwd=cwd, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while not answers(url, ready):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"licensor serve did not start:\n{log_path.read_text(errors='replace')}"
                    )
                time.sleep(0.1)
            yield url
        finally:
            stop(server, timeout=30)


def answers(url: str, path: str = "/healthz") -> bool:
    """Whether the server at ``url`` answers ``path`` with 200 (False while nothing listens)."""
    try:
        return httpx.get(f"{url}{path}", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """End a process as a service manager does (SIGTERM), killed if it has not exited
    within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
