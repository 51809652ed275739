"""Tesseract, run as a child process: one thread, under a time limit, reading a PNG from
its standard input and answering TSV (one row a word, with its box), grouped here into
lines."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from licensor.errors import OcrUnavailable

DEBIAN_PACKAGES = "tesseract-ocr tesseract-ocr-eng"


@dataclass(frozen=True)
class Word:
    """A word as Tesseract read it, with its box in the image's pixels."""

    text: str
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class Line:
    """Words Tesseract read as one line, in reading order."""

    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    def box(self) -> tuple[int, int, int, int]:
        return (
            min(word.left for word in self.words),
            min(word.top for word in self.words),
            max(word.left + word.width for word in self.words),
            max(word.top + word.height for word in self.words),
        )

    def height(self) -> int:
        return max(word.height for word in self.words)


def tesseract_binary(configured: str | Path | None) -> str:
    """The Tesseract to run: ``configured``, or ``tesseract`` on PATH."""
    name = str(configured) if configured is not None else "tesseract"
    found = shutil.which(name)
    if found is None:
        raise OcrUnavailable(f"{name!r} was not found: install Debian's {DEBIAN_PACKAGES} packages")
    return found


def run_tesseract(
    binary: str,
    image: Image.Image,
    *,
    psm: int,
    timeout: float,
    whitelist: str | None = None,
) -> str:
    """Tesseract's TSV (one row a word, with its box) for an image."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    command = [binary, "stdin", "stdout", "-l", "eng", "--psm", str(psm), "--dpi", "300"]
    if whitelist is not None:
        command += ["-c", f"tessedit_char_whitelist={whitelist} "]
    command.append("tsv")
    # One thread: on a small image OpenMP's threads cost more than they give, and the
    # server runs several readings at once.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        finished = subprocess.run(
            command,
            input=buffer.getvalue(),
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OcrUnavailable(f"Tesseract took more than {timeout:g} s on one image") from None
    except OSError as error:
        raise OcrUnavailable(f"Tesseract could not be started: {error}") from None
    if finished.returncode != 0:
        message = finished.stderr.decode(errors="replace").strip().splitlines()
        raise OcrUnavailable(
            f"Tesseract failed ({finished.returncode}): {message[-1] if message else ''}; "
            f"is Debian's tesseract-ocr-eng installed?"
        )
    return finished.stdout.decode(errors="replace")


def lines_of(tsv: str) -> list[Line]:
    """Words grouped into lines, in reading order."""
    grouped: dict[tuple[str, str, str], list[Word]] = {}
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
            continue
        word = Word(
            fields[11].strip(), int(fields[6]), int(fields[7]), int(fields[8]), int(fields[9])
        )
        grouped.setdefault((fields[2], fields[3], fields[4]), []).append(word)
    return [Line(tuple(words)) for words in grouped.values()]
