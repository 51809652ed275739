"""What a 100 MB request body costs the server: its resident memory before and after.

    .venv/bin/python bench/body_limit.py [--megabytes 100] [--src DIR]

Starts ``licensor serve`` on loopback with a fresh SQLite database under a temporary
directory, reads the server process's VmRSS and VmHWM (peak) from /proc, sends a body of
the given size to ``POST /api/v1/activations`` with its length declared, then the same
chunked (no length), and prints the answers and the memory after each. ``--src`` runs the
server from another checkout's ``src`` (e.g. an older release, to compare).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CHUNK = 1024 * 1024


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields["VmRSS"], fields["VmHWM"]


def body(megabytes: int) -> Iterator[bytes]:
    piece = b"x" * CHUNK
    for _ in range(megabytes):
        yield piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--src", type=Path, help="run the server from this src directory")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as var:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_")},
            "LICENSOR_VAR_DIR": var,
            "LICENSOR_LOG_LEVEL": "ERROR",
            "LICENSOR_RATE_LIMITS": "off",
        }
        if args.src:
            environment["PYTHONPATH"] = str(args.src.resolve())
        command = [sys.executable, "-c", "from licensor.cli import main; main()"]
        subprocess.run([*command, "migrate"], env=environment, check=True, capture_output=True)
        server = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(args.port)],
            env=environment,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{args.port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            print(f"server from {args.src or 'this checkout'}, pid {server.pid}")
            rss, hwm = memory(server.pid)
            print(f"idle:              VmRSS {rss:4d} MB, VmHWM {hwm:4d} MB")
            size = args.megabytes * CHUNK
            with httpx.Client(base_url=url, timeout=120) as client:
                declared = client.post(
                    "/api/v1/activations",
                    content=body(args.megabytes),
                    headers={"content-type": "application/json", "content-length": str(size)},
                )
                rss, hwm = memory(server.pid)
                print(
                    f"{args.megabytes} MB declared: {declared.status_code} "
                    f"{declared.headers.get('content-type')}; VmRSS {rss:4d} MB, VmHWM {hwm:4d} MB"
                )
                chunked = client.post(
                    "/api/v1/activations",
                    content=body(args.megabytes),
                    headers={"content-type": "application/json"},
                )
                rss, hwm = memory(server.pid)
                print(
                    f"{args.megabytes} MB chunked:  {chunked.status_code} "
                    f"{chunked.headers.get('content-type')}; VmRSS {rss:4d} MB, VmHWM {hwm:4d} MB"
                )
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
