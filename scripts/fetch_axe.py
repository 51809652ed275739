"""Fetch axe-core, the accessibility checker tests/web/test_accessibility.py runs in every
page, from the npm registry without node: the pinned version's tarball, checked against
the sha512 integrity npm published for it, and its ``axe.min.js`` written to a cache
under ``.venv/`` (``make test`` runs this first; a fresh machine gets it there).

    .venv/bin/python scripts/fetch_axe.py          # fetch if missing; print the path
    .venv/bin/python scripts/fetch_axe.py --check  # exit 1 when it is missing

The version moves by changing both constants below together (``npm view
axe-core@X.Y.Z dist.integrity`` or the registry's JSON gives the integrity).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
INTEGRITY = (
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76"
    "ASyFNNtuFooJpZe37OgudVGtQ=="
)
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
ROOT = Path(__file__).resolve().parent.parent
AXE_JS = ROOT / ".venv" / f"axe-core-{VERSION}" / "axe.min.js"


def verify(tarball: bytes) -> None:
    """Raise ValueError unless ``tarball`` is the one npm's integrity names."""
    algorithm, _, expected = INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if digest != expected:
        raise ValueError(
            f"axe-core {VERSION}: the tarball's {algorithm} is {digest}, not the pinned {expected}"
        )


def fetch(target: Path = AXE_JS) -> Path:
    """Download, verify and extract ``axe.min.js`` to ``target`` unless it is there."""
    if target.exists():
        return target
    with urllib.request.urlopen(TARBALL, timeout=60) as response:
        tarball = response.read()
    verify(tarball)
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            raise ValueError(f"axe-core {VERSION}: no package/axe.min.js in the tarball")
        script = member.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a run stopped halfway leaves no truncated script behind.
    partial = target.with_suffix(".partial")
    partial.write_bytes(script)
    partial.replace(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is there")
    arguments = parser.parse_args()
    if arguments.check:
        print(AXE_JS if AXE_JS.exists() else f"missing: {AXE_JS}")
        return 0 if AXE_JS.exists() else 1
    print(fetch())
    return 0


if __name__ == "__main__":
    sys.exit(main())
