"""What the operations tests run and then take away: a PostgreSQL cluster of their own,
redis-server and PgBouncer (``licensor serve`` is tests.cli_support's ``serving``). Each listens on
loopback on a free port and can be stopped, paused (``SIGSTOP``: it accepts connections in
the kernel and never answers) and brought back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.cli_support import run
from tests.support import free_port, wait_until


def _as_owner() -> list[str]:
    """initdb and PgBouncer refuse to run as root: as root, they run as ``postgres``
    (as scripts/with-postgres.sh does)."""
    if os.geteuid() != 0:
        return []
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
        capture_output=True,
        check=False,
    )
    return ["runuser", "-u", "postgres", "--"]


def _owned_directory(name: str) -> Path:
    """A fresh directory that the servers' user may enter: pytest's temporary directories
    are root's alone (0700) when the tests run as root."""
    path = Path(tempfile.mkdtemp(prefix=f"licensor-{name}-"))
    path.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres")
    return path


def _family(pid: int) -> list[int]:
    """A process and all its descendants (PostgreSQL's postmaster and its backends)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_family(int(child)))
    return found


class PostgresCluster:
    """A PostgreSQL cluster of the test's own (LICENSOR_TEST_PG_BIN's initdb and pg_ctl)."""

    def __init__(self, *, max_connections: int) -> None:
        binaries = os.environ.get("LICENSOR_TEST_PG_BIN")
        if not binaries:
            pytest.skip("needs LICENSOR_TEST_PG_BIN (scripts/with-postgres.sh sets it)")
        self.bin = Path(binaries)
        self.owner = _as_owner()
        self.workdir = _owned_directory("cluster")
        self.data = self.workdir / "data"
        self.port = free_port()
        self.max_connections = max_connections
        self.url = f"postgresql+psycopg://licensor@127.0.0.1:{self.port}/licensor"
        subprocess.run(
            [
                *(*self.owner, str(self.bin / "initdb"), "-D", str(self.data), "-U", "licensor"),
                *("--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"),
            ],
            capture_output=True,
            check=True,
        )
        self.start()
        subprocess.run(
            [
                *(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port)),
                *("-U", "licensor", "licensor"),
            ],
            check=True,
        )

    def start(self) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=off "
            f"-c synchronous_commit=off -c max_connections={self.max_connections}"
        )
        subprocess.run(
            [
                *(*self.owner, str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60"),
                *("-l", str(self.workdir / "server.log"), "-o", options, "start"),
            ],
            capture_output=True,
            check=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.owner, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )

    def _processes(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return _family(postmaster)

    def pause(self) -> None:
        """SIGSTOP the postmaster and every backend: a server that hangs."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        try:
            self.resume()  # a stopped process acts on no signal but SIGKILL until then
        except (OSError, ValueError):
            pass  # not running
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Redis:
    """redis-server on one free loopback port, which stays its port across restarts."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian package redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(self._answers, "redis-server to answer", timeout=10)

    def _answers(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class PgBouncer:
    """PgBouncer in transaction pooling mode before the PostgreSQL at ``host:port``,
    trusting every client (the suite's server trusts them too)."""

    def __init__(self, host: str, port: int, *, pool_size: int = 2) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            pytest.skip("pgbouncer is not installed (Debian package pgbouncer)")
        owner = _as_owner()
        self.workdir = workdir = _owned_directory("pgbouncer")
        self.port = free_port()
        (workdir / "users.txt").write_text('"licensor" ""\n')
        config = workdir / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={host} port={port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\n"
            "max_client_conn = 500\n"
            f"logfile = {workdir / 'pgbouncer.log'}\n"
        )
        self.process = subprocess.Popen(
            [*owner, binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self._listening, "pgbouncer to listen", timeout=10)

    def _listening(self) -> bool:
        import socket

        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def licensor_command(environment: dict[str, str], cwd: Path, *arguments: str) -> str:
    """A ``licensor`` command that must work; its output."""
    ran = run("licensor", *arguments, environment=environment, cwd=cwd)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def elapsed(started: float) -> float:
    return time.monotonic() - started
