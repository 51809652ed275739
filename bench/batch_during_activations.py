"""Activations while a card batch is issued: their latency and errors (SPEC, Targets: "a
card batch being issued never holds activations up for more than a second").

A fresh installation (the embedded SQLite by default) serves with `licensor serve`
(one process); `licensor codes issue --count N` (default 1,000,000) runs beside it, and
`--clients` devices each activate a code of their own every `--interval` seconds from
the batch's start to its end. Reported: the activations' p50, p99 and max, the errors
(any answer but 201, or no answer), and the batch's own time and codes a second.

    .venv/bin/python bench/batch_during_activations.py [--count N] [--clients C]
        [--interval S] [--chunk-size K] [--database postgresql]

Target: p99 under 1 s and no error.
"""

from __future__ import annotations

import argparse
import csv
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
from support import (
    PLAN,
    Installation,
    Report,
    add_common_arguments,
    command_line,
    free_port,
    installation,
    licensor_command,
    percentile,
    wait_for_port,
)

TARGET_P99_SECONDS = 1.0


@dataclass
class Activations:
    """What the clients saw: each answer's seconds, and the errors by kind."""

    seconds: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, elapsed: float, error: str | None) -> None:
        with self.lock:
            self.seconds.append(elapsed)
            if error is not None:
                self.errors[error] = self.errors.get(error, 0) + 1


def activation_codes(setup: Installation, count: int) -> list[str]:
    """``count`` codes to activate, issued before the server starts."""
    out = setup.root / "activate.csv"
    setup.run("codes", "issue", "--plan", PLAN, "--count", str(count), "--out", str(out))
    with out.open(newline="") as handle:
        return [row["activation_code"] for row in csv.DictReader(handle)]


def client(
    url: str, codes: list[str], interval: float, stop: threading.Event, seen: Activations
) -> None:
    """One device after another activating a code, one every ``interval`` seconds."""
    with httpx.Client(base_url=url, timeout=60) as http:
        next_at = time.monotonic()
        for code in codes:
            if stop.is_set():
                return
            device = {"fingerprint": secrets.token_hex(16), "name": "Bench", "platform": "linux"}
            started = time.perf_counter()
            try:
                answer = http.post(
                    "/api/v1/activations", json={"activation_code": code, "device": device}
                )
                error = None
                if answer.status_code != 201:
                    error = f"{answer.status_code} {answer.json().get('code', '')}".rstrip()
            except httpx.HTTPError as failure:
                error = type(failure).__name__
            seen.record(time.perf_counter() - started, error)
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))


def run(args: argparse.Namespace, setup: Installation) -> tuple[Activations, float]:
    """Serve, start the batch and the clients, wait for the batch; (seen, batch seconds)."""
    per_client = int(args.max_seconds / args.interval) + 1
    codes = activation_codes(setup, args.clients * per_client)
    port = free_port()
    log = (setup.root / "serve.log").open("w")
    server = subprocess.Popen(
        [*licensor_command(), "serve", "--port", str(port)],
        cwd=setup.root,
        env=setup.environment(),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        wait_for_port(port, server, timeout=60)
        url = f"http://127.0.0.1:{port}"
        issue = ["codes", "issue", "--plan", PLAN, "--count", str(args.count)]
        issue += ["--out", str(setup.root / "batch.csv")]
        if args.chunk_size:
            issue += ["--chunk-size", str(args.chunk_size)]
        seen, stop = Activations(), threading.Event()
        batch = subprocess.Popen(
            [*licensor_command(), *issue],
            cwd=setup.root,
            env=setup.environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.perf_counter()
        threads = [
            threading.Thread(
                target=client,
                args=(url, codes[n * per_client : (n + 1) * per_client], args.interval, stop, seen),
            )
            for n in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        try:
            batch.wait(timeout=args.max_seconds)
        except subprocess.TimeoutExpired:
            batch.kill()
            batch.wait()
            sys.exit(f"the batch took more than {args.max_seconds} s")
        seconds = time.perf_counter() - started
        stop.set()
        for thread in threads:
            thread.join()
        if batch.returncode != 0:
            sys.exit(f"codes issue failed ({batch.returncode})")
        return seen, seconds
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="codes in the batch")
    parser.add_argument("--clients", type=int, default=4, help="devices activating at once")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a client's")
    parser.add_argument("--chunk-size", type=int, help="codes issue --chunk-size (its default)")
    parser.add_argument("--max-seconds", type=float, default=300, help="give the batch up after")
    add_common_arguments(parser)
    args = parser.parse_args()

    report = Report("batch_during_activations", args.database, command_line())
    with installation(args.database, keep=args.keep) as setup:
        seen, seconds = run(args, setup)
    ordered = sorted(seen.seconds)
    p99 = percentile(ordered, 0.99)
    report.add(
        batch_codes=args.count,
        batch_seconds=round(seconds, 1),
        activations=len(ordered),
        p50_ms=round(percentile(ordered, 0.50) * 1000, 1),
        p99_ms=round(p99 * 1000, 1),
        max_ms=round(ordered[-1] * 1000, 1) if ordered else None,
        errors=sum(seen.errors.values()),
    )
    for kind, number in sorted(seen.errors.items()):
        report.notes.append(f"error {kind}: {number}")
    met = p99 < TARGET_P99_SECONDS and not seen.errors
    report.notes.append(
        f"target: p99 < {TARGET_P99_SECONDS:.0f} s and no error ({'met' if met else 'MISSED'})"
    )
    report.print()
    report.write(args.json)


if __name__ == "__main__":
    main()
