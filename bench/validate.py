"""Online validation: Licensor's throughput and latency against the least it could cost.

Target (SPEC, Targets): at least 0.7 x the requests a second of the baseline
(bench/baseline_app.py: one keyed-hash lookup and an Ed25519-signed answer in a bare
ASGI app), p99 under 50 ms, at 32 concurrent clients, one process each.

How it runs, in one installation (its own keys, SQLite or PostgreSQL):
  1. issue ``--licenses`` codes with ``licensor codes issue`` and activate each on its own
     device through ``POST /api/v1/activations`` of the running server;
  2. start ``licensor serve --workers 1`` and the baseline under uvicorn, both pinned to
     CPU 0 (``taskset``) and never loaded at the same time;
  3. check that each answers a real validation correctly (valid, nonce echoed, signature
     verified with the installation's public key);
  4. load each in turn with ``wrk`` (one thread, 32 connections, pinned to CPU 1), every
     request validating a random license of the set with a fresh nonce: a warm-up, then
     ``--rounds`` rounds of ``--duration`` seconds, alternating baseline and Licensor.

Requests a second are the mean over the rounds; p50 is the median of the rounds' p50s;
p99 the worst round's. Any error or non-2xx answer is reported.

Needs ``wrk`` (Debian: ``apt-get install wrk``).

    .venv/bin/python bench/validate.py [--duration 15] [--database postgresql]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from support import (
    PLAN,
    REPO,
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

CLIENTS = 32
TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0
VALIDATE_PATH = "/api/v1/licenses/validate"

LUA_SCRIPT = """
-- Written by bench/validate.py: each request validates a random license of the set.
local entries = {
%(entries)s
}
local counter = 0
local headers = {["Content-Type"] = "application/json"}

request = function()
  counter = counter + 1
  local entry = entries[math.random(#entries)]
  local body = '{"license_key":"' .. entry[1] .. '","fingerprint":"' .. entry[2]
    .. '","nonce":"wrk-' .. counter .. '"}'
  return wrk.format("POST", "%(path)s", headers, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,'
    .. '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,'
    .. '"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write,
    errors.status, errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def running(
    name: str, command: list[str], setup: Installation, port: int, log: Path
) -> Iterator[Server]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=setup.root, env=setup.environment(), stdout=output, stderr=output
        )
        try:
            wait_for_port(port, process)
            yield Server(name, port, process)
        finally:
            interrupt(process, timeout=15)


def prepare_licenses(setup: Installation, licensor: Server, count: int) -> list[tuple[str, str]]:
    """Issue and activate ``count`` codes, each on its own device: (license key, device)."""
    out = setup.root / "codes.csv"
    setup.run("codes", "issue", "--plan", PLAN, "--count", str(count), "--out", str(out))
    with out.open(newline="") as handle:
        codes = [row["activation_code"] for row in csv.DictReader(handle)]
    return activate_each(licensor.url, codes)


def check_answers(server: Server, licenses: list[tuple[str, str]], public_key: bytes) -> None:
    """A real validation, checked the way a device checks it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from licensor.keys import b64url_decode
    from licensor.licensing.signing import RESPONSE_CONTEXT, canonical_json

    verifier = Ed25519PublicKey.from_public_bytes(public_key)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for number, (key, fingerprint) in enumerate(licenses[:20]):
            nonce = f"check-{number}"
            response = client.post(
                VALIDATE_PATH, json={"license_key": key, "fingerprint": fingerprint, "nonce": nonce}
            )
            answer = response.json()
            signature = answer.pop("signature", "")
            verifier.verify(
                b64url_decode(signature.split(".", 1)[1]), RESPONSE_CONTEXT + canonical_json(answer)
            )
            if response.status_code != 200 or not answer["valid"] or answer["nonce"] != nonce:
                sys.exit(f"{server.name} answered wrongly: {response.status_code} {answer}")


def load(server: Server, script: Path, seconds: float, cpu: int | None) -> dict[str, Any]:
    """One wrk run against the server; wrk's figures."""
    return wrk_run(
        server.url,
        script,
        seconds,
        clients=CLIENTS,
        server=server.process,
        name=server.name,
        cpu_seconds=cpu_seconds,
        cpu=cpu,
    )


def cpu_seconds(pid: int) -> float:
    """User and system time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [run["requests"] / (run["duration_us"] / 1e6) for run in runs]
    errors = sum(run[kind] for run in runs for kind in ("connect", "read", "write", "timeout"))
    requests = sum(run["requests"] for run in runs)
    return {
        "requests_per_second": round(statistics.mean(rates), 1),
        "rounds_rps": [round(rate) for rate in rates],
        # CPU time the server spent per answer: what the figures would be on an idle core.
        "cpu_us_per_request": round(sum(run["cpu_seconds"] for run in runs) / requests * 1e6),
        "p50_ms": round(statistics.median(run["p50_us"] for run in runs) / 1000, 2),
        "p99_ms": round(max(run["p99_us"] for run in runs) / 1000, 2),
        "max_ms": round(max(run["max_us"] for run in runs) / 1000, 1),
        "requests": requests,
        "non_2xx": sum(run["status"] for run in runs),
        "socket_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per server")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up each")
    parser.add_argument("--licenses", type=int, default=500, help="activated licenses")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to CPUs")
    add_common_arguments(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/validate.py needs wrk: apt-get install wrk")
    pin = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    server_cpu, client_cpu = (0, 1) if pin else (None, None)

    report = Report("validate", args.database, command_line())
    with installation(args.database, keep=args.keep) as setup, ExitStack() as stack:
        licensor_port, baseline_port = free_port(), free_port()
        licensor_command_line = [*licensor_command(), "serve", "--host", "127.0.0.1"]
        licensor_command_line += ["--port", str(licensor_port), "--workers", "1"]
        licensor = stack.enter_context(
            running(
                "licensor",
                pinned(server_cpu, licensor_command_line),
                setup,
                licensor_port,
                setup.root / "licensor.log",
            )
        )
        baseline_command_line = [sys.executable, "-m", "uvicorn", "--app-dir", str(REPO / "bench")]
        baseline_command_line += ["--factory", "baseline_app:create_app", "--host", "127.0.0.1"]
        baseline_command_line += ["--port", str(baseline_port), "--log-level", "warning"]
        baseline_command_line += ["--no-access-log"]
        baseline = stack.enter_context(
            running(
                "baseline",
                pinned(server_cpu, baseline_command_line),
                setup,
                baseline_port,
                setup.root / "baseline.log",
            )
        )
        licenses = prepare_licenses(setup, licensor, args.licenses)
        keys = httpx.get(f"{licensor.url}/api/v1/signing-keys").json()
        from licensor.keys import b64url_decode

        public_key = b64url_decode(keys["keys"][keys["current"]])
        for server in (baseline, licensor):
            check_answers(server, licenses, public_key)

        script = setup.root / "validate.lua"
        entries = ",\n".join(f'  {{"{key}", "{device}"}}' for key, device in licenses)
        script.write_text(LUA_SCRIPT % {"entries": entries, "path": VALIDATE_PATH})
        for server in (baseline, licensor):
            load(server, script, args.warmup, client_cpu)
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "licensor": []}
        for _ in range(args.rounds):
            for server in (baseline, licensor):
                runs[server.name].append(load(server, script, args.duration, client_cpu))
                time.sleep(0.5)

    figures = {name: summarize(server_runs) for name, server_runs in runs.items()}
    for name in ("baseline", "licensor"):
        report.add(server=name, clients=CLIENTS, **figures[name])
    ratio = figures["licensor"]["requests_per_second"] / figures["baseline"]["requests_per_second"]
    cpu_ratio = (
        figures["baseline"]["cpu_us_per_request"] / figures["licensor"]["cpu_us_per_request"]
    )
    p99 = figures["licensor"]["p99_ms"]
    report.add(ratio=round(ratio, 3), cpu_ratio=round(cpu_ratio, 3), licensor_p99_ms=p99)
    report.notes.append(
        f"target: ratio >= {TARGET_RATIO} ({'met' if ratio >= TARGET_RATIO else 'MISSED'}), "
        f"p99 < {TARGET_P99_MS:.0f} ms ({'met' if p99 < TARGET_P99_MS else 'MISSED'})"
    )
    report.notes.append(
        f"{args.licenses} activated licenses; wrk -t1 -c{CLIENTS}; "
        + (f"servers on CPU {server_cpu}, wrk on CPU {client_cpu}" if pin else "no CPU pinning")
        + f"; {args.rounds} x {args.duration:g} s per server after {args.warmup:g} s warm-up"
    )
    report.notes.append(
        "cpu_ratio: baseline's CPU time per answer over Licensor's, the throughput ratio "
        "on an otherwise idle machine"
    )
    report.print()
    report.write(args.json)


if __name__ == "__main__":
    main()
