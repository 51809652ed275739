"""Run every benchmark on SQLite and on a throwaway PostgreSQL; print the figures as the
Markdown tables of bench/README.md, each beside the command that made it.

    .venv/bin/python bench/run_all.py            # the README's figures (about 15 minutes)
    .venv/bin/python bench/run_all.py --quick    # smaller counts, a few minutes

PostgreSQL runs go through scripts/with-postgres.sh (a new server for each benchmark);
they are skipped, and said to be, when PostgreSQL's server binaries are not installed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from support import REPO

BENCH = REPO / "bench"

FULL: dict[str, list[str]] = {
    "issue_codes": ["--count", "1000000"],
    "validate": ["--duration", "15", "--rounds", "2", "--licenses", "500"],
    "lookup": ["--count", "10000000"],
    "offline_validate": ["--seconds", "3", "--rounds", "5"],
    "ocr": ["--count", "300", "--invalid", "30"],
    "guessing": ["--seconds", "60"],
    "scale": ["--duration", "8", "--rounds", "2", "--warmup", "2"],
}
QUICK: dict[str, list[str]] = {
    "issue_codes": ["--count", "100000"],
    "validate": ["--duration", "5", "--rounds", "1", "--warmup", "2", "--licenses", "100"],
    "lookup": ["--count", "200000", "--lookups", "500", "--real", "200"],
    "offline_validate": ["--seconds", "1", "--rounds", "2", "--warmup", "0.5"],
    "ocr": ["--count", "60", "--invalid", "10"],
    "guessing": ["--seconds", "10", "--codes", "1000"],
    "scale": ["--duration", "3", "--rounds", "1", "--warmup", "1", "--codes", "10000"],
}
# Benchmarks without a database (the client SDK alone, the screenshot reader): they run
# once, not per database; what they are said to run on.
DATABASE_FREE = {"offline_validate": "the SDK alone", "ocr": "no database"}


def postgres_available() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or bool(shutil.which("initdb"))


def run(benchmark: str, database: str, arguments: list[str], results: Path) -> dict[str, Any]:
    output = results / f"{benchmark}-{database}.json"
    command = [sys.executable, str(BENCH / f"{benchmark}.py"), *arguments]
    if benchmark in DATABASE_FREE:
        command += ["--json", str(output)]
        database = DATABASE_FREE[benchmark]
    else:
        command += ["--database", database, "--json", str(output)]
    if database == "postgresql":
        command = [str(REPO / "scripts" / "with-postgres.sh"), *command]
    print(f"\n### {benchmark} on {database}", flush=True)
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=REPO, check=False)
    if finished.returncode != 0 or not output.exists():
        print(f"{benchmark} on {database} failed ({finished.returncode})", flush=True)
        return {"benchmark": benchmark, "database": database, "failed": True}
    result: dict[str, Any] = json.loads(output.read_text())
    result["seconds"] = round(time.perf_counter() - started)
    return result


def markdown(results: list[dict[str, Any]]) -> str:
    lines = []
    for result in results:
        lines.append(f"#### {result['benchmark']} on {result['database']}")
        if result.get("failed"):
            lines.append("\nfailed: see the output above.\n")
            continue
        lines.append(f"\n```\n{result['command']}\n```\n")
        figures = result["figures"]
        for keys in _groups(figures):
            rows = [figure for figure in figures if list(figure) == keys]
            lines.append("| " + " | ".join(keys) + " |")
            lines.append("|" + "---|" * len(keys))
            for row in rows:
                lines.append("| " + " | ".join(_cell(row[key]) for key in keys) + " |")
            lines.append("")
        for note in result["notes"]:
            lines.append(f"- {note}")
        lines.append(f"- machine: {result['machine']}; the run took {result['seconds']} s\n")
    return "\n".join(lines)


def _groups(figures: list[dict[str, Any]]) -> list[list[str]]:
    groups: list[list[str]] = []
    for figure in figures:
        if list(figure) not in groups:
            groups.append(list(figure))
    return groups


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value)
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, shorter runs")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(FULL), default=sorted(FULL), help="benchmarks"
    )
    parser.add_argument(
        "--databases",
        nargs="+",
        choices=["sqlite", "postgresql"],
        default=["sqlite", "postgresql"],
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()

    plans = QUICK if args.quick else FULL
    databases = list(args.databases)
    if "postgresql" in databases and not postgres_available():
        print("PostgreSQL server binaries not found (Debian: postgresql): SQLite only")
        databases.remove("postgresql")
    for needs_wrk in ("validate", "scale"):
        if needs_wrk in args.only and shutil.which("wrk") is None:
            print(f"wrk not found (Debian: apt-get install wrk): skipping {needs_wrk}")
            args.only.remove(needs_wrk)
    if "ocr" in args.only and shutil.which("tesseract") is None:
        print("tesseract not found (Debian: tesseract-ocr, tesseract-ocr-eng): skipping ocr")
        args.only.remove("ocr")
    if "ocr" in args.only:
        fonts = Path("/usr/share/fonts/truetype")
        absent = [
            package
            for package, folder in [
                ("fonts-liberation2", "liberation2"),
                ("fonts-noto-mono", "noto"),
            ]
            if not (fonts / folder).is_dir()
        ]
        if absent:
            print(
                f"Debian's {' '.join(absent)} not installed: the ocr corpus leaves their fonts out"
            )

    results = []
    with tempfile.TemporaryDirectory(prefix="licensor-bench-results-") as directory:
        for benchmark in ("issue_codes", "validate", "scale", "lookup", "offline_validate", "ocr"):
            if benchmark not in args.only:
                continue
            for database in databases[:1] if benchmark in DATABASE_FREE else databases:
                if (benchmark, database) == ("scale", "postgresql") and not shutil.which(
                    "redis-server"
                ):
                    print("redis-server not found (Debian: redis-server): scale on SQLite only")
                    continue
                results.append(run(benchmark, database, plans[benchmark], Path(directory)))
    tables = markdown(results)
    print("\n" + tables)
    if args.markdown:
        args.markdown.write_text(tables)
    if any(result.get("failed") for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
