"""Offline validation in the SDK: license-file checks a second on one core.

Target (SPEC, Targets): at least 5,000 license-file checks a second a core.

What is timed is the SDK's own path, on a license file made as the server makes it
(``licensor.licensing.licenses.license_payload`` signed by ``sign_license_file`` with a
fresh installation keyring), checked against the pinned public key:
  * ``check_license_file``: the five rules of docs/signing.md on a parsed file — format
    and pinned key id, Ed25519 over the context line and canonical JSON, fingerprint,
    status, issued_at/valid_until against the clock;
  * ``LicenseClient.validate_offline()``: what an app calls when the server is away —
    read and parse the state file from disk, then the same check, then the License
    window's fields. The state is written by the SDK itself (an activation answered by
    an ``httpx.MockTransport``), so it is byte for byte what an app keeps.
Also timed, to say where the time goes: the Ed25519 verification alone, and the
canonical JSON of the payload alone.

The process is pinned to one CPU (``--cpu``, default 0) and runs single-threaded; each
path runs ``--rounds`` rounds of ``--seconds`` after a warm-up. Reported: checks a
second (median of rounds), µs a check (wall and CPU), and the target met or missed.
No database is involved, so ``run_all.py`` runs it once.

    .venv/bin/python bench/offline_validate.py [--seconds 3] [--rounds 5] [--cpu 0]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from support import Report, command_line

from licensor.keys import Keyring, NamedKey, b64url_decode
from licensor.licensing.licenses import license_payload
from licensor.licensing.signing import LICENSE_CONTEXT, canonical_json, sign_license_file
from licensor_client import LicenseClient, PublicKeys, check_license_file

TARGET_PER_SECOND = 5_000
FINGERPRINT = "bench-offline-device-0123456789abcdef"
CODE = "6JPET-26GV0-A08J5-BT3ZX"


def keyring() -> Keyring:
    """A new installation's keys, as ``licensor`` creates them on first start."""

    def key() -> NamedKey:
        return NamedKey(secrets.token_hex(4), secrets.token_bytes(32))

    return Keyring([key()], key(), [key()])


def license_file(ring: Keyring, now: datetime) -> dict[str, Any]:
    """A license file exactly as activation or validation sends it."""
    payload = license_payload(
        license_key="57B351CE823C49E68327015A83458BE4",
        public_id="LIC-PP2T-PPD4",
        plan_code="plus",
        plan_name="Plus",
        entitlements=["antivirus", "vpn", "password-manager"],
        devices_max=3,
        fingerprint=FINGERPRINT,
        status="active",
        starts_at=now,
        expires_at=now + timedelta(days=365),
        now=now,
        offline_days=14,
    )
    return sign_license_file(ring, payload)


def activated_client(state_dir: Path, pinned: str, document: dict[str, Any]) -> LicenseClient:
    """A client whose state the SDK wrote itself, from an activation answered in memory."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201,
            json={
                "license_key": document["payload"]["license_key"],
                "public_id": document["payload"]["public_id"],
                "plan": "plus",
                "plan_name": "Plus",
                "status": "active",
                "expires_at": document["payload"]["expires_at"],
                "devices_used": 1,
                "devices_max": 3,
                "license_file": document,
            },
        )

    client = LicenseClient(
        "https://licensing.invalid",
        pinned,
        state_dir=state_dir,
        fingerprint=FINGERPRINT,
        transport=httpx.MockTransport(answer),
    )
    client.activate(CODE)
    client.validate_offline()  # it holds before anything is timed
    return client


def measure(check: Callable[[], object], seconds: float) -> tuple[int, float, float]:
    """(checks, wall seconds, CPU seconds) of calling ``check`` for about ``seconds``."""
    batch = 200
    done = 0
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    deadline = wall_start + seconds
    while True:
        for _ in range(batch):
            check()
        done += batch
        if time.perf_counter() >= deadline:
            break
    return done, time.perf_counter() - wall_start, time.process_time() - cpu_start


def pin_to(cpu: int) -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per path")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up each")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to run on")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to a CPU")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    report = Report("offline_validate", "the SDK alone", command_line())
    pinned_note = "not pinned (--no-pin)" if args.no_pin else pin_to(args.cpu)

    now = datetime.now(UTC).replace(microsecond=0)
    ring = keyring()
    document = license_file(ring, now)
    pinned = ",".join(f"{key_id}:{key}" for key_id, key in ring.public_keys_b64().items())
    keys = PublicKeys.parse(pinned)
    public_key = ring.public_keys()[document["key_id"]]
    signature = b64url_decode(document["signature"])
    signed_message = LICENSE_CONTEXT + canonical_json(document["payload"])

    with tempfile.TemporaryDirectory(prefix="licensor-bench-offline-") as directory:
        client = activated_client(Path(directory) / "state", pinned, document)
        state_bytes = (Path(directory) / "state" / "license.json").stat().st_size
        paths: list[tuple[str, Callable[[], object]]] = [
            (
                "check_license_file",
                lambda: check_license_file(keys, document, fingerprint=FINGERPRINT, now=now),
            ),
            ("LicenseClient.validate_offline", client.validate_offline),
            ("ed25519 verify only", lambda: public_key.verify(signature, signed_message)),
            ("canonical JSON only", lambda: canonical_json(document["payload"])),
        ]
        for name, check in paths:
            measure(check, args.warmup)
            rounds = [measure(check, args.seconds) for _ in range(args.rounds)]
            rates = [done / wall for done, wall, _ in rounds]
            checks = sum(done for done, _, _ in rounds)
            wall = sum(wall for _, wall, _ in rounds)
            cpu = sum(cpu for _, _, cpu in rounds)
            median = statistics.median(rates)
            report.add(
                path=name,
                checks=checks,
                checks_per_second=round(median),
                rounds_per_second=[round(rate) for rate in rates],
                us_per_check=round(1e6 * wall / checks, 2),
                cpu_us_per_check=round(1e6 * cpu / checks, 2),
                target=f">= {TARGET_PER_SECOND:,}/s"
                if name.startswith(("check", "LicenseClient"))
                else "",
                result=("met" if median >= TARGET_PER_SECOND else "MISSED")
                if name.startswith(("check", "LicenseClient"))
                else "",
            )
        client.close()

    full = [figure for figure in report.figures if figure["target"]]
    slowest = min(figure["checks_per_second"] for figure in full)
    report.notes.append(
        f"target: >= {TARGET_PER_SECOND:,} checks a second a core: slowest path "
        f"{slowest:,}/s ({'met' if slowest >= TARGET_PER_SECOND else 'MISSED'}, "
        f"{slowest / TARGET_PER_SECOND:.1f} x the target)"
    )
    report.notes.append(
        f"one process, one thread, {pinned_note}; {args.rounds} x {args.seconds:g} s per path "
        f"after {args.warmup:g} s of warm-up; checks_per_second is the median round"
    )
    report.notes.append(
        f"license file {len(json.dumps(document))} bytes, state file {state_bytes} bytes "
        "(read from disk at each validate_offline: the page cache, in practice)"
    )
    report.print()
    report.write(args.json)


if __name__ == "__main__":
    main()
