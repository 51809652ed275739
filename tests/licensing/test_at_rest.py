"""No activation code and no license key is ever stored in clear.

The raw database is read the way a thief with a copy would: the SQLite file and its
write-ahead log byte by byte, or a ``pg_dump`` of PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from licensor.db import Database
from licensor.licensing import formats
from tests.licensing.factories import activate, device

MakeCode = Callable[..., str]
BlockCode = Callable[..., None]


def _spellings_of_code(formatted: str) -> set[bytes]:
    canonical = formats.normalize_code(formatted)
    forms = {canonical, formats.format_code(canonical)}
    return {spelling.encode() for form in forms for spelling in (form, form.lower())}


def _spellings_of_key(canonical: str) -> set[bytes]:
    forms = {canonical, formats.format_license_key(canonical)}
    spellings = {spelling.encode() for form in forms for spelling in (form, form.lower())}
    return spellings | {bytes.fromhex(canonical)}  # the key's 16 raw bytes, too


# Run in a child process: closing any file descriptor of the database file drops every
# POSIX lock this process holds on it, and the server's open connections rely on theirs.
_READ_SQLITE_FILES = """
import sqlite3, sys
from contextlib import closing
from pathlib import Path
path = Path(sys.argv[1])
with closing(sqlite3.connect(path, isolation_level=None)) as connection:
    busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
if busy:
    sys.exit("the WAL could not be checkpointed")
for file in (path, path.with_name(path.name + "-wal")):
    if file.exists():
        sys.stdout.buffer.write(file.read_bytes())
"""


def _sqlite_bytes(database: Database) -> bytes:
    """The database file and its write-ahead log, byte for byte, after a checkpoint."""
    path = str(database.engine.url.database)
    read = subprocess.run(
        [sys.executable, "-c", _READ_SQLITE_FILES, path], capture_output=True, timeout=120
    )
    assert read.returncode == 0, read.stderr.decode()
    return read.stdout


def _postgresql_dump(database: Database) -> bytes:
    url = database.engine.url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://"
    )
    pg_bin = os.environ.get("LICENSOR_TEST_PG_BIN")
    pg_dump = str(Path(pg_bin) / "pg_dump") if pg_bin else shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump not found (set LICENSOR_TEST_PG_BIN)")
    dump = subprocess.run([pg_dump, "--dbname", url], capture_output=True, timeout=120)
    assert dump.returncode == 0, dump.stderr.decode()
    return dump.stdout


def test_a_copy_of_the_database_holds_no_code_and_no_license_key_in_clear(
    api: httpx.Client, database: Database, make_code: MakeCode, block_code: BlockCode
) -> None:
    codes = [make_code(devices_max=2) for _ in range(6)]
    machines = [device(f"PC {n}") for n in range(len(codes))]
    activations = [
        activate(api, code, machine) for code, machine in zip(codes, machines, strict=True)
    ]
    # A second seat, a released seat and a blocked code: every table that can hold a row.
    activate(api, codes[0], device("Second PC"))
    api.post(
        "/api/v1/activations/release",
        json={
            "license_key": activations[1]["license_key"],
            "fingerprint": machines[1]["fingerprint"],
        },
    ).raise_for_status()
    block_code(codes[2], "refund")
    block_code(make_code(), "never sold")
    unused = [make_code() for _ in range(3)]

    if database.engine.dialect.name == "sqlite":
        stored = _sqlite_bytes(database)
    else:
        stored = _postgresql_dump(database)

    # What is meant to be in clear is there, so this is the data we think it is ...
    for activated, machine in zip(activations, machines, strict=True):
        assert activated["public_id"].encode() in stored
        assert machine["fingerprint"].encode() in stored
    # ... and no secret is, in any spelling.
    for code in codes + unused:
        for spelling in _spellings_of_code(code):
            assert spelling not in stored, f"activation code {formats.mask_code(code)} in clear"
    for activated in activations:
        for spelling in _spellings_of_key(activated["license_key"]):
            assert spelling not in stored, "a license key in clear"


def test_reading_the_raw_database_would_find_a_code_stored_in_clear(
    database: Database, make_code: MakeCode
) -> None:
    # The control for the test above: the same reading does find a secret that is there.
    code = make_code()
    with database.transaction() as session:
        session.execute(
            text("UPDATE plans SET name = :name"), {"name": formats.normalize_code(code)}
        )

    if database.engine.dialect.name == "sqlite":
        stored = _sqlite_bytes(database)
    else:
        stored = _postgresql_dump(database)

    assert formats.normalize_code(code).encode() in stored
