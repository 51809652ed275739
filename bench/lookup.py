"""Lookups by activation code and by license key in a database of many codes.

Target (SPEC, Targets): lookups stay O(log n), under 5 ms at 10 million codes.

How it runs, in one installation (SQLite or PostgreSQL, schema from the migrations):
  1. fill: ``--count`` code rows and, for ``--licensed`` of them, their license rows, written
     straight through the driver (executemany on SQLite, binary COPY on PostgreSQL) with
     the app's column layout: a random 16-byte blind index per row, unique-indexed as the
     app's, but a constant dummy ciphertext (no per-row AES) -- they are never looked up;
  2. real codes: ``licensor codes issue`` (the app's own path) issues ``--real`` codes into
     the full tables, and half of them are activated through ``Licensing.activate``;
  3. lookups: ``--lookups`` random picks of each kind, timed one by one through the service
     path a request takes: ``with database.transaction(): unit.codes.find_code(text)``
     (normalise and check the typed text, HMAC it, one indexed query, load the row).
     Also timed: codes that are well-formed but unknown (the index probe still runs).

The database is warm (the fill just wrote it; it fits in memory). On PostgreSQL the fill
turns foreign-key triggers off for its own session (``session_replication_role``): its
rows reference real plan and batch rows, and the checks would triple the fill time.

    .venv/bin/python bench/lookup.py [--count 10000000] [--database postgresql]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from os import urandom
from typing import Any

from support import (
    PLAN,
    Installation,
    Report,
    add_common_arguments,
    command_line,
    installation,
    percentile,
)

TARGET_MS = 5.0
CHUNK = 100_000
DUMMY_CIPHERTEXT = b"\x01\x08bulkfill" + b"\x00" * 12 + b"\xee" * 36  # shape of a real blob


def _progress(what: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f"  {what}: {done:,}/{total:,} ({rate:,.0f} rows/s)", file=sys.stderr, flush=True)


def _public_id(number: int) -> str:
    from licensor.licensing.formats import CROCKFORD

    symbols = "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(8)))
    return f"LIC-{symbols[:4]}-{symbols[4:]}"


class Filler:
    """Writes the bulk rows through the driver, in chunks, each chunk one transaction."""

    def __init__(self, setup: Installation) -> None:
        from sqlalchemy import create_engine, insert, select

        from licensor.models import ActivationCode, Batch, License, Plan

        self.setup = setup
        engine = create_engine(setup.database_url)
        self.dialect = engine.dialect
        with engine.begin() as connection:
            self.plan_id = connection.execute(select(Plan.id).where(Plan.code == PLAN)).scalar_one()
            self.now = datetime.now(UTC).replace(microsecond=0)
            self.batch_id = connection.execute(
                insert(Batch).returning(Batch.id),
                {
                    "plan_id": self.plan_id,
                    "origin": "card_batch",
                    "label": "bench/lookup.py bulk fill",
                    "count": 0,
                    "created_at": self.now,
                },
            ).scalar_one()
        engine.dispose()
        self.code_table = ActivationCode.__table__
        self.license_table = License.__table__

    def _bound(self, table: Any, column: str, value: Any) -> Any:
        processor = table.c[column].type.dialect_impl(self.dialect).bind_processor(self.dialect)
        return processor(value) if processor else value

    def fill(self, count: int, licensed: int) -> None:
        if self.dialect.name == "sqlite":
            self._fill_sqlite(count, licensed)
        else:
            self._fill_postgres(count, licensed)

    def _rows(self, kind: str, start: int, size: int, licensed: int) -> list[tuple[Any, ...]]:
        indexes = urandom(16 * size)
        rows: list[tuple[Any, ...]] = []
        if kind == "codes":
            created = self._bound(self.code_table, "created_at", self.now)
            for offset in range(size):
                code_id = start + offset
                rows.append(
                    (
                        code_id,
                        indexes[16 * offset : 16 * offset + 16],
                        DUMMY_CIPHERTEXT,
                        self.plan_id,
                        self.batch_id,
                        "card_batch",
                        "active" if code_id <= licensed else "issued",
                        created,
                    )
                )
        else:
            starts = self._bound(self.license_table, "starts_at", self.now)
            expires = self._bound(self.license_table, "expires_at", self.now + timedelta(3650))
            for offset in range(size):
                license_id = start + offset
                rows.append(
                    (
                        license_id,
                        _public_id(license_id),
                        indexes[16 * offset : 16 * offset + 16],
                        DUMMY_CIPHERTEXT,
                        license_id,  # code_id: license n belongs to code n
                        self.plan_id,
                        starts,
                        expires,
                        starts,
                    )
                )
        return rows

    CODE_COLUMNS = "id, code_index, code_ciphertext, plan_id, batch_id, origin, state, created_at"
    LICENSE_COLUMNS = (
        "id, public_id, key_index, key_ciphertext, code_id, plan_id, starts_at, expires_at,"
        " created_at"
    )

    def _chunks(self, kind: str, total: int, licensed: int) -> Iterator[list[tuple[Any, ...]]]:
        started = time.perf_counter()
        for start in range(1, total + 1, CHUNK):
            size = min(CHUNK, total + 1 - start)
            yield self._rows(kind, start, size, licensed)
            done = start + size - 1
            if done % 1_000_000 == 0 or done == total:
                _progress(kind, done, total, started)

    def _fill_sqlite(self, count: int, licensed: int) -> None:
        import sqlite3

        connection = sqlite3.connect(self.setup.database_url.split("///", 1)[1])
        connection.isolation_level = None
        # A fill, not a service: no journal, and room for the indexes in memory.
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-4000000")
        for kind, total, columns, table in (
            ("codes", count, self.CODE_COLUMNS, "activation_codes"),
            ("licenses", licensed, self.LICENSE_COLUMNS, "licenses"),
        ):
            marks = ", ".join("?" for _ in columns.split(","))
            for rows in self._chunks(kind, total, licensed):
                connection.execute("BEGIN")
                connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
                connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.close()

    def _fill_postgres(self, count: int, licensed: int) -> None:
        import psycopg

        url = self.setup.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url) as connection:
            connection.execute("SET session_replication_role = replica")
            for kind, total, columns, table in (
                ("codes", count, self.CODE_COLUMNS, "activation_codes"),
                ("licenses", licensed, self.LICENSE_COLUMNS, "licenses"),
            ):
                names = [name.strip() for name in columns.split(",")]
                type_ids: dict[str, int] = dict(
                    connection.execute(
                        "SELECT attname, atttypid FROM pg_attribute"
                        " WHERE attrelid = %s::regclass AND attname = ANY(%s)",
                        (table, names),
                    ).fetchall()
                )
                for rows in self._chunks(kind, total, licensed):
                    with (
                        connection.cursor() as cursor,
                        cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
                    ):
                        copy.set_types([type_ids[name] for name in names])
                        for row in rows:
                            copy.write_row(row)
                    connection.commit()
                connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {total})"
                )
                connection.commit()
            connection.execute("ANALYZE")
            connection.commit()


def real_secrets(setup: Installation, count: int) -> tuple[list[str], list[str]]:
    """Codes issued by the app's own path, half of them activated: (codes, license keys)."""
    from licensor.clock import clock
    from licensor.db import Database
    from licensor.keys import load_keyring
    from licensor.licensing.service import DeviceInfo
    from licensor.units import UnitOfWork

    out = setup.root / "real-codes.csv"
    setup.run("codes", "issue", "--plan", PLAN, "--count", str(count), "--out", str(out))
    with out.open(newline="") as handle:
        codes = [row["activation_code"] for row in csv.DictReader(handle)]
    settings = setup.settings()
    database = Database(settings)
    keyring = load_keyring(settings)
    keys = []
    for number, code in enumerate(codes[: count // 2]):
        device = DeviceInfo(f"bench-lookup-device-{number:08d}", "bench", "linux")
        with database.transaction() as session:
            view = UnitOfWork(session, keyring, settings, clock.now()).licensing.activate(
                code, device
            )
        keys.append(view.license_key)
    database.dispose()
    return codes, keys


def time_lookups(setup: Installation, texts: list[str], lookups: int, kind: str) -> dict[str, Any]:
    """Time ``lookups`` random lookups of ``texts``, one transaction each."""
    from licensor.clock import clock
    from licensor.db import Database
    from licensor.errors import CodeUnknown
    from licensor.keys import load_keyring
    from licensor.units import UnitOfWork

    settings = setup.settings()
    database = Database(settings)
    keyring = load_keyring(settings)
    expect_found = kind != "unknown code"

    def find(unit: UnitOfWork, text: str) -> Any:
        if kind == "license key":
            return unit.licenses.find_license(text)
        return unit.codes.find_code(text)

    picks = [random.choice(texts) for _ in range(lookups)]
    timings = []
    cpu_started = time.thread_time()
    for text in picks:
        started = time.perf_counter()
        try:
            with database.transaction() as session:
                found = find(UnitOfWork(session, keyring, settings, clock.now()), text)
        except CodeUnknown:
            found = None
        timings.append((time.perf_counter() - started) * 1000)
        if (found is not None) != expect_found:
            sys.exit(f"{kind} lookup of {text!r} gave {found!r}")
    cpu_seconds = time.thread_time() - cpu_started
    database.dispose()
    timings.sort()
    return {
        "lookup": kind,
        "n": lookups,
        "mean_ms": round(statistics.mean(timings), 3),
        "p50_ms": round(percentile(timings, 0.50), 3),
        "p99_ms": round(percentile(timings, 0.99), 3),
        "max_ms": round(timings[-1], 2),
        # This thread's CPU time per lookup: the part other work on the machine cannot add to.
        "cpu_ms": round(cpu_seconds / lookups * 1000, 3),
    }


def database_megabytes(setup: Installation) -> float:
    from sqlalchemy import create_engine, text

    if setup.database == "sqlite":
        path = setup.var_dir / "licensor.db"
        return path.stat().st_size / 1e6
    engine = create_engine(setup.database_url)
    with engine.connect() as connection:
        size = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
    engine.dispose()
    return int(size or 0) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000_000, help="code rows to fill")
    parser.add_argument(
        "--licensed", type=float, default=1.0, help="fraction of filled codes with a license"
    )
    parser.add_argument("--real", type=int, default=1000, help="codes issued by the app")
    parser.add_argument("--lookups", type=int, default=2000, help="timed lookups of each kind")
    add_common_arguments(parser)
    args = parser.parse_args()

    from licensor.licensing import formats

    report = Report("lookup", args.database, command_line())
    with installation(args.database, keep=args.keep) as setup:
        licensed = int(args.count * args.licensed)
        started = time.perf_counter()
        Filler(setup).fill(args.count, licensed)
        fill_seconds = time.perf_counter() - started
        codes, keys = real_secrets(setup, args.real)
        unknown = [formats.format_code(formats.generate_code()) for _ in range(args.real)]
        measure: list[tuple[str, list[str]]] = [
            ("activation code", codes),
            ("license key", keys),
            ("unknown code", unknown),
        ]
        figures = [time_lookups(setup, texts, args.lookups, kind) for kind, texts in measure]
        size_mb = database_megabytes(setup)
    for figure in figures:
        report.add(codes=args.count + args.real, licenses=licensed + len(keys), **figure)
    worst = max(figure["p99_ms"] for figure in figures)
    report.notes.append(
        f"filled {args.count:,} codes and {licensed:,} licenses in {fill_seconds:.0f} s; "
        f"database {size_mb:,.0f} MB"
    )
    report.notes.append(
        f"target: < {TARGET_MS:.0f} ms at 10,000,000 codes: worst p99 {worst} ms"
        + (f" ({'met' if worst < TARGET_MS else 'MISSED'})" if args.count >= 10_000_000 else "")
    )
    report.print()
    report.write(args.json)


if __name__ == "__main__":
    main()
