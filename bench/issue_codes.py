"""Card batches: time and peak memory of `licensor codes issue --count N` (default 1,000,000).

Target (SPEC, Targets): under 60 s and under 300 MB resident for 1,000,000 codes. The
command runs as a child process in a fresh installation; its peak resident memory is the
``ru_maxrss`` that the kernel reports for that child alone (``os.wait4``). The CSV and
the database are then checked to hold exactly N codes.

    .venv/bin/python bench/issue_codes.py [--count N] [--database postgresql]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from support import (
    PLAN,
    Installation,
    Report,
    add_common_arguments,
    command_line,
    installation,
    licensor_command,
)

TARGET_SECONDS = 60.0
TARGET_RSS_MB = 300.0


def count_rows(setup: Installation) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(setup.database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM activation_codes")).scalar_one()
    engine.dispose()
    return int(rows)


def issue(setup: Installation, count: int) -> tuple[float, float, Path]:
    """Run the command; (seconds, peak resident MB, CSV path)."""
    out = setup.root / "codes.csv"
    log = setup.root / "issue.log"
    arguments = ["codes", "issue", "--plan", PLAN, "--count", str(count), "--out", str(out)]
    with log.open("w") as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(
            [*licensor_command(), *arguments],
            cwd=setup.root,
            env=setup.environment(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"codes issue failed ({child.returncode}):\n{log.read_text()}")
    return seconds, usage.ru_maxrss / 1024, out  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="codes to issue")
    add_common_arguments(parser)
    args = parser.parse_args()

    report = Report("issue_codes", args.database, command_line())
    with installation(args.database, keep=args.keep) as setup:
        seconds, peak_mb, out = issue(setup, args.count)
        with out.open() as handle:
            csv_rows = sum(1 for _ in handle) - 1
        stored = count_rows(setup)
        if csv_rows != args.count or stored != args.count:
            sys.exit(f"expected {args.count} codes; CSV has {csv_rows}, database {stored}")
        report.add(
            codes=args.count,
            seconds=round(seconds, 2),
            codes_per_second=round(args.count / seconds),
            peak_rss_mb=round(peak_mb, 1),
            csv_mb=round(out.stat().st_size / 1e6, 1),
        )
        if args.count == 1_000_000:
            report.notes.append(
                f"target: < {TARGET_SECONDS:.0f} s "
                f"({'met' if seconds < TARGET_SECONDS else 'MISSED'}), "
                f"< {TARGET_RSS_MB:.0f} MB ({'met' if peak_mb < TARGET_RSS_MB else 'MISSED'})"
            )
    report.print()
    report.write(args.json)


if __name__ == "__main__":
    main()
