"""What the benchmarks share: a fresh installation to measure, the `licensor` command,
free ports, percentiles and the figures each script prints (and may write as JSON).

Every benchmark runs against a new installation in a temporary directory: its own keys,
its own SQLite file or, with ``--database postgresql``, the throwaway server that
``scripts/with-postgres.sh`` starts (its schema is dropped and migrated anew).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PLAN = "bench"
POSTGRES_URL_VARIABLE = "LICENSOR_TEST_DATABASE_URL"


def licensor_command() -> list[str]:
    """The installed ``licensor`` script beside this interpreter (the venv's)."""
    script = Path(sys.executable).with_name("licensor")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from licensor.cli import main; main()"]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="sqlite: a new file (the embedded default); postgresql: the throwaway server "
        f"of scripts/with-postgres.sh (${POSTGRES_URL_VARIABLE}), wiped first",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary installation, say where"
    )


@dataclass
class Installation:
    """A fresh Licensor installation: a var dir with its keys, a migrated database."""

    root: Path
    database: str
    database_url: str

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    def environment(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("LICENSOR_") or key == POSTGRES_URL_VARIABLE
        }
        env.update(
            LICENSOR_VAR_DIR=str(self.var_dir),
            LICENSOR_DATABASE_URL=self.database_url,
            LICENSOR_LOG_LEVEL="WARNING",
            LICENSOR_RATE_LIMITS="off",
            # A bench installation makes its keys, whatever the database.
            LICENSOR_CREATE_KEYS="on",
        )
        env.update(extra)
        return env

    def settings(self) -> Any:
        """Settings as the installation's processes read them (for in-process work)."""
        from licensor.config import Settings

        return Settings(
            var_dir=self.var_dir,
            database_url=self.database_url,
            log_level="WARNING",
            rate_limits="off",
            create_keys=True,
            _env_file=None,
        )

    def run(self, *args: str, capture: bool = True) -> str:
        """Run ``licensor ARGS`` in this installation; its output, or exit with its error."""
        result = subprocess.run(
            [*licensor_command(), *args],
            cwd=self.root,  # away from any developer's .env
            env=self.environment(),
            capture_output=capture,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            sys.exit(f"licensor {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout or ""


def _wipe_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@contextmanager
def installation(
    database: str, *, keep: bool = False, term_days: int = 3650, devices: int = 3
) -> Iterator[Installation]:
    """A new installation with one plan (``bench``), removed afterwards unless kept."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="licensor-bench-"))
    if database == "postgresql":
        url = os.environ.get(POSTGRES_URL_VARIABLE)
        if not url:
            sys.exit(
                f"--database postgresql needs ${POSTGRES_URL_VARIABLE}: run under "
                "scripts/with-postgres.sh (the database is wiped)"
            )
        _wipe_postgres(url)
    else:
        url = f"sqlite:///{root / 'var' / 'licensor.db'}"
    setup = Installation(root, database, url)
    try:
        setup.run("migrate")
        setup.run(
            "plans",
            "create",
            "--code",
            PLAN,
            "--name",
            "Benchmark",
            "--term-days",
            str(term_days),
            "--devices",
            str(devices),
        )
        yield setup
    finally:
        if keep:
            print(f"kept the installation in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on port {port} after {timeout} s")


def interrupt(process: subprocess.Popen[Any], timeout: float) -> None:
    """Stop a server as Ctrl-C does (SIGINT: it shuts down cleanly); killed if it has not
    exited within ``timeout`` seconds."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pinned(cpu: int | None, command: list[str]) -> list[str]:
    """``command`` run on CPU ``cpu`` only (taskset), or as it is for None."""
    if cpu is None:
        return command
    return ["taskset", "--cpu-list", str(cpu), *command]


def wrk_run(
    url: str,
    script: Path,
    seconds: float,
    *,
    clients: int,
    server: subprocess.Popen[Any],
    name: str,
    cpu_seconds: Callable[[int], float],
    cpu: int | None = None,
) -> dict[str, Any]:
    """One wrk run against ``url`` (one thread, ``clients`` connections, pinned to ``cpu``
    if given) with a Lua ``script`` that prints its figures as a ``WRK_JSON`` line: those
    figures, with ``cpu_seconds`` the server used meanwhile (``cpu_seconds(pid)`` read
    before and after). A server that died during the run ends the benchmark."""
    wrk = ["wrk", "--threads", "1", "--connections", str(clients), "--timeout", "10s"]
    wrk += ["--duration", f"{seconds:g}s", "--script", str(script), url]
    cpu_before = cpu_seconds(server.pid)
    result = subprocess.run(pinned(cpu, wrk), capture_output=True, text=True, check=False)
    cpu_used = cpu_seconds(server.pid) - cpu_before
    for line in result.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            figures: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
            if server.poll() is not None:
                sys.exit(f"{name} died during the run")
            figures["cpu_seconds"] = cpu_used
            return figures
    sys.exit(f"wrk gave no figures:\n{result.stdout}{result.stderr}")


def activate_each(url: str, codes: Sequence[str]) -> list[tuple[str, str]]:
    """Activate each code on a device of its own at the server ``url``: (license key,
    device fingerprint) for each, in order. Any answer but 201 ends the benchmark."""
    licenses = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for number, code in enumerate(codes):
            fingerprint = f"bench-device-{number:08d}"
            response = client.post(
                "/api/v1/activations",
                json={
                    "activation_code": code,
                    "device": {"fingerprint": fingerprint, "name": "bench", "platform": "linux"},
                },
            )
            if response.status_code != 201:
                sys.exit(f"activation failed: {response.status_code} {response.text}")
            licenses.append((response.json()["license_key"], fingerprint))
    return licenses


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


@dataclass
class Report:
    """Figures of one benchmark run: printed as a table, written as JSON if asked."""

    benchmark: str
    database: str
    command: str
    figures: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.load_at_start = os.getloadavg()[0]

    def add(self, **figure: Any) -> None:
        self.figures.append(figure)

    def print(self) -> None:
        # Other work on the machine skews timings: say how busy it was.
        self.notes.append(
            f"load average {self.load_at_start:.2f} at start, {os.getloadavg()[0]:.2f} at end"
        )
        print(f"\n== {self.benchmark} on {self.database} ({machine()})")
        print(f"   $ {self.command}")
        for figure in self.figures:
            print("   " + "  ".join(f"{key}={_show(value)}" for key, value in figure.items()))
        for note in self.notes:
            print(f"   note: {note}")

    def write(self, path: Path | None) -> None:
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "benchmark": self.benchmark,
                    "database": self.database,
                    "command": self.command,
                    "machine": machine(),
                    "figures": self.figures,
                    "notes": self.notes,
                },
                indent=2,
            )
        )


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def command_line() -> str:
    """How this script was run, as one would type it from the repository root (without
    the bookkeeping options --json and --keep)."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO))
    except ValueError:
        shown = str(script)
    arguments: list[str] = []
    skip_next = False
    for argument in sys.argv[1:]:
        if skip_next:
            skip_next = False
        elif argument == "--json":
            skip_next = True
        elif not (argument.startswith("--json=") or argument == "--keep"):
            arguments.append(argument)
    on_postgres = "postgresql" in arguments or "--database=postgresql" in arguments
    prefix = "scripts/with-postgres.sh " if on_postgres else ""
    return f"{prefix}.venv/bin/python {shown} {' '.join(arguments)}".strip()
