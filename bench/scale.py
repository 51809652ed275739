"""Scale: validate and activate with one and two server processes, limits off and on.

Targets (SPEC, Targets): validation with two processes gives at least 1.7 x one; rate
limits on (Redis) cost at most 15 % of validation throughput; activation p99 under
250 ms at 32 concurrent clients on PostgreSQL.

How it runs, in one installation (its own keys; SQLite, or PostgreSQL with a throwaway
redis-server of its own for the shared limits):
  1. issue codes with ``licensor codes issue``; activate ``--licenses`` of them, each on
     its own device, for the validations; the rest are for the activation loads;
  2. start every configuration at once, each a ``licensor serve`` of its own: 1 process
     (pinned to CPU 0) and, on PostgreSQL, ``--workers 2`` (not pinned: both cores), each
     with ``LICENSOR_RATE_LIMITS=off`` and with limits on (in-process on SQLite, Redis on
     PostgreSQL; rates so high that nothing is refused, so every request is counted);
  3. load one at a time with ``wrk`` (one thread, 32 connections): a warm-up each, then
     ``--rounds`` rounds of ``--duration`` seconds, alternating the configurations so
     that the machine's other work falls on all of them alike. Loads: ``validate`` (a
     random license of the set, a fresh nonce), ``activate`` (a new code on a new device
     each request: 201 expected) and ``mixed`` (nine validations to one activation).

Requests a second are the mean over the rounds; p50 the median of the rounds' p50s; p99
the worst round's. ``cpu_us`` is the server processes' CPU time per answer (from /proc,
children included). SQLite runs one process only: ``--workers 2`` is refused there.

    .venv/bin/python bench/scale.py [--database sqlite]
    scripts/with-postgres.sh .venv/bin/python bench/scale.py --database postgresql
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from support import (
    PLAN,
    Installation,
    Report,
    activate_each,
    add_common_arguments,
    command_line,
    free_port,
    installation,
    interrupt,
    licensor_command,
    pinned,
    wait_for_port,
    wrk_run,
)
from validate import LUA_SCRIPT as VALIDATE_SCRIPT
from validate import VALIDATE_PATH, Server, check_answers

CLIENTS = 32
TARGET_SCALE = 1.7
TARGET_LIMITS_COST = 0.15
TARGET_ACTIVATION_P99_MS = 250.0
# High enough that no request of the benchmark is refused: limits on still count each.
UNREFUSED_RATE = "1000000000/minute"

# Each request activates the next code of the list on a device of its own; ``share`` of
# the requests (1.0: all) do, the others validate a random license of the set.
LOAD_SCRIPT = """
-- Written by bench/scale.py.
local licenses = {
%(licenses)s
}
local codes = {
%(codes)s
}
local share = %(share)s
local addresses = %(addresses)d
local counter = 0
local next_code = 0
local headers = {["Content-Type"] = "application/json"}

request = function()
  counter = counter + 1
  if addresses > 0 then
    -- As a reverse proxy says who the client is: one of ``addresses`` clients.
    local client = math.random(addresses)
    headers["X-Forwarded-For"] = string.format("10.%%d.%%d.%%d",
      math.floor(client / 65536) %% 256, math.floor(client / 256) %% 256, client %% 256)
  end
  if next_code < #codes and math.random() < share then
    next_code = next_code + 1
    local body = '{"activation_code":"' .. codes[next_code] .. '","device":{"fingerprint":"'
      .. string.format('scale-device-%%04d-%%08d', %(run)s, next_code)
      .. '","name":"bench","platform":"linux"}}'
    return wrk.format("POST", "/api/v1/activations", headers, body)
  end
  local entry = licenses[math.random(#licenses)]
  local body = '{"license_key":"' .. entry[1] .. '","fingerprint":"' .. entry[2]
    .. '","nonce":"wrk-' .. counter .. '"}'
  return wrk.format("POST", "%(validate)s", headers, body)
end
"""
# wrk's summary, as bench/validate.py prints it.
LOAD_SCRIPT += VALIDATE_SCRIPT[VALIDATE_SCRIPT.index("done = function") :]
SHARES = {"validate": 0.0, "activate": 1.0, "mixed": 0.1}


@dataclass
class Configuration:
    """One ``licensor serve`` under measurement."""

    name: str
    processes: int
    limits: bool
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class RedisServer:
    """A throwaway redis-server on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("limits on PostgreSQL need redis-server (Debian package redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        arguments += ["--appendonly", "no", "--dir", str(workdir)]
        self.process = subprocess.Popen([binary, *arguments], stdout=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextmanager
def serving(
    configuration: Configuration, setup: Installation, redis_url: str | None
) -> Iterator[Configuration]:
    configuration.port = free_port()
    command = [*licensor_command(), "serve", "--host", "127.0.0.1"]
    command += ["--forwarded-allow-ips", "127.0.0.1"]
    command += ["--port", str(configuration.port), "--workers", str(configuration.processes)]
    variables = {"LICENSOR_RATE_LIMITS": "on" if configuration.limits else "off"}
    if configuration.limits:
        variables.update(
            LICENSOR_VALIDATION_RATE=UNREFUSED_RATE, LICENSOR_ACTIVATION_RATE=UNREFUSED_RATE
        )
        if redis_url:
            variables["LICENSOR_REDIS_URL"] = redis_url
    log = setup.root / f"{configuration.name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            pinned(0 if configuration.processes == 1 else None, command),
            cwd=setup.root,
            env=setup.environment(**variables),
            stdout=output,
            stderr=output,
        )
        configuration.process = process
        try:
            wait_for_port(configuration.port, process)
            _wait_ready(configuration)
            yield configuration
        finally:
            interrupt(process, timeout=20)


def _wait_ready(configuration: Configuration) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{configuration.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"{configuration.name} never answered /healthz")


def tree_cpu_seconds(pid: int) -> float:
    """User and system time of the process and its children so far (Linux /proc)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # gone meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pending.extend(int(child) for child in children)
    return total


def load(configuration: Configuration, script: Path, seconds: float) -> dict[str, Any]:
    """One wrk run; wrk's figures and the servers' CPU time."""
    assert configuration.process is not None
    return wrk_run(
        configuration.url,
        script,
        seconds,
        clients=CLIENTS,
        server=configuration.process,
        name=configuration.name,
        cpu_seconds=tree_cpu_seconds,
    )


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [run["requests"] / (run["duration_us"] / 1e6) for run in runs]
    requests = sum(run["requests"] for run in runs)
    errors = sum(run[kind] for run in runs for kind in ("connect", "read", "write", "timeout"))
    return {
        "rps": round(statistics.mean(rates), 1),
        "rounds_rps": [round(rate) for rate in rates],
        "cpu_us": round(sum(run["cpu_seconds"] for run in runs) / max(1, requests) * 1e6),
        "p50_ms": round(statistics.median(run["p50_us"] for run in runs) / 1000, 2),
        "p99_ms": round(max(run["p99_us"] for run in runs) / 1000, 2),
        "requests": requests,
        "non_2xx": sum(run["status"] for run in runs),
        "socket_errors": errors,
    }


class Codes:
    """Activation codes not used yet, handed out in slices."""

    def __init__(self, codes: list[str]) -> None:
        self._codes = codes
        self._next = 0

    def take(self, count: int) -> list[str]:
        taken = self._codes[self._next : self._next + count]
        if len(taken) < count:
            sys.exit("ran out of activation codes: raise --codes")
        self._next += count
        return taken

    def give_back_unused(self, taken: int, used: int) -> None:
        self._next -= max(0, taken - used)


def write_script(
    path: Path,
    kind: str,
    licenses: list[tuple[str, str]],
    codes: list[str],
    run: int,
    addresses: int,
) -> None:
    entries = ",\n".join(f'  {{"{key}", "{device}"}}' for key, device in licenses)
    code_entries = ",\n".join(f'  "{code}"' for code in codes)
    path.write_text(
        LOAD_SCRIPT
        % {
            "licenses": entries,
            "codes": code_entries,
            "share": SHARES[kind],
            "run": run,
            "validate": VALIDATE_PATH,
            "addresses": addresses,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per configuration")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up each")
    parser.add_argument("--licenses", type=int, default=300, help="licenses validated")
    parser.add_argument("--codes", type=int, default=60_000, help="codes for activations")
    parser.add_argument(
        "--loads",
        default="validate,activate,mixed",
        help="comma-separated: validate, activate, mixed",
    )
    parser.add_argument(
        "--processes", default="1,2", help="comma-separated: 1, 2 (2 on PostgreSQL only)"
    )
    parser.add_argument(
        "--addresses",
        type=int,
        default=0,
        help="requests from this many client addresses (X-Forwarded-For, the servers "
        "trusting loopback as their proxy); 0: all from 127.0.0.1",
    )
    add_common_arguments(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/scale.py needs wrk: apt-get install wrk")
    loads = [load_name.strip() for load_name in args.loads.split(",")]
    processes = [int(count) for count in args.processes.split(",")]
    if args.database == "sqlite":
        processes = [1]  # licensor serve refuses --workers 2 on SQLite

    report = Report("scale", args.database, command_line())
    with installation(args.database, keep=args.keep) as setup, ExitStack() as stack:
        redis_url = None
        if args.database == "postgresql":
            redis = RedisServer(Path(tempfile.mkdtemp(prefix="licensor-bench-redis-")))
            stack.callback(redis.stop)
            redis_url = redis.url
        configurations = [
            stack.enter_context(
                serving(
                    Configuration(f"p{count}-limits-{'on' if limits else 'off'}", count, limits),
                    setup,
                    redis_url,
                )
            )
            for count in processes
            for limits in (False, True)
        ]
        out = setup.root / "codes.csv"
        total = args.licenses + args.codes
        setup.run("codes", "issue", "--plan", PLAN, "--count", str(total), "--out", str(out))
        with out.open(newline="") as handle:
            issued = [row["activation_code"] for row in csv.DictReader(handle)]
        licenses = activate_each(configurations[0].url, issued[: args.licenses])
        codes = Codes(issued[args.licenses :])
        from licensor.keys import b64url_decode

        keys = httpx.get(f"{configurations[0].url}/api/v1/signing-keys").json()
        public_key = b64url_decode(keys["keys"][keys["current"]])
        for configuration in configurations:
            check_answers(_as_server(configuration), licenses, public_key)

        run_number = 0
        for kind in loads:
            per_run = _codes_per_run(kind, args)
            for round_number in range(-1, args.rounds):  # -1: the warm-up
                for configuration in configurations:
                    run_number += 1
                    script = setup.root / f"run-{run_number}.lua"
                    taken = codes.take(per_run) if per_run else []
                    write_script(script, kind, licenses, taken, run_number, args.addresses)
                    seconds = args.warmup if round_number < 0 else args.duration
                    figures = load(configuration, script, seconds)
                    if taken:
                        # wrk counts answers; up to CLIENTS more were sent.
                        used = round(figures["requests"] * SHARES[kind]) + CLIENTS * 2
                        codes.give_back_unused(len(taken), min(len(taken), used))
                    if round_number >= 0:
                        configuration.runs.setdefault(kind, []).append(figures)
                    time.sleep(0.3)

    _report(report, configurations, loads, args)
    report.print()
    report.write(args.json)


def _codes_per_run(kind: str, args: argparse.Namespace) -> int:
    if not SHARES[kind]:
        return 0
    # At most ~600 activations a second in one run; the rest go back to the pool.
    seconds = max(float(args.duration), float(args.warmup))
    return min(int(args.codes) // 4, int(600 * SHARES[kind] * seconds) + 500)


def _as_server(configuration: Configuration) -> Any:
    assert configuration.process is not None
    return Server(configuration.name, configuration.port, configuration.process)


def _report(
    report: Report,
    configurations: list[Configuration],
    loads: list[str],
    args: argparse.Namespace,
) -> None:
    figures: dict[tuple[str, str], dict[str, Any]] = {}
    for kind in loads:
        for configuration in configurations:
            summary = summarize(configuration.runs[kind])
            figures[(kind, configuration.name)] = summary
            report.add(
                load=kind,
                processes=configuration.processes,
                limits="on" if configuration.limits else "off",
                clients=CLIENTS,
                **summary,
            )
    store = "Redis" if args.database == "postgresql" else "in-process"
    if "validate" in loads:
        for count in sorted({c.processes for c in configurations}):
            off = figures[("validate", f"p{count}-limits-off")]["rps"]
            on = figures[("validate", f"p{count}-limits-on")]["rps"]
            cost = 1 - on / off
            report.notes.append(
                f"limits on ({store}) cost {cost:.1%} of validate throughput with {count} "
                f"process(es), target <= {TARGET_LIMITS_COST:.0%} "
                f"({'met' if cost <= TARGET_LIMITS_COST else 'MISSED'})"
            )
        if any(c.processes == 2 for c in configurations):
            for limits in ("off", "on"):
                one = figures[("validate", f"p1-limits-{limits}")]["rps"]
                two = figures[("validate", f"p2-limits-{limits}")]["rps"]
                scale = two / one
                report.notes.append(
                    f"validate, limits {limits}: 2 processes give {scale:.2f} x one, target "
                    f">= {TARGET_SCALE} ({'met' if scale >= TARGET_SCALE else 'MISSED'})"
                )
    if "activate" in loads and args.database == "postgresql":
        worst = max(figures[("activate", c.name)]["p99_ms"] for c in configurations)
        report.notes.append(
            f"activation p99 at {CLIENTS} clients: worst {worst:.1f} ms, target < "
            f"{TARGET_ACTIVATION_P99_MS:.0f} ms "
            f"({'met' if worst < TARGET_ACTIVATION_P99_MS else 'MISSED'})"
        )
    report.notes.append(
        f"requests from {args.addresses} client addresses (X-Forwarded-For)"
        if args.addresses
        else "every request from 127.0.0.1"
    )
    report.notes.append(
        f"wrk -t1 -c{CLIENTS}, not pinned; 1 process pinned to CPU 0, 2 processes on both "
        f"cores; {args.rounds} x {args.duration:g} s per configuration and load after "
        f"{args.warmup:g} s warm-up, configurations alternating; {args.licenses} licenses"
    )


if __name__ == "__main__":
    main()
