"""Reading the license key in one screenshot: the passes, cheapest first, until a
candidate's check value holds (the package's docstring says how, and why no misread can
pass as a key)."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path

from licensor.licensing.formats import format_license_key
from licensor.support.ocr.candidates import (
    HEX_WHITELIST,
    Checker,
    GroupVotes,
    candidates,
    contradicted,
    key_likeness,
    most_key_like,
)
from licensor.support.ocr.image import decode, guess_key_height, line_crop, prepared
from licensor.support.ocr.tesseract import lines_of, run_tesseract, tesseract_binary

# Text height (pixels) Tesseract reads best; the key is enlarged or shrunk towards it.
WHOLE_IMAGE_KEY_HEIGHT = 34


@dataclass(frozen=True)
class KeyReading:
    """What was read for the license key in one screenshot.

    ``text`` is the best candidate as read (digits grouped as on screen; empty when
    nothing looked like a key); ``license_key`` is its canonical 32 digits, set only when
    the check value holds, which ``verified`` repeats; ``seconds`` is the wall time and
    ``passes`` the number of Tesseract runs it took, ``checks`` the number of distinct
    32-digit strings whose check value was tried (at most MAX_CHECKS).
    """

    text: str
    license_key: str | None
    verified: bool
    seconds: float
    passes: int
    checks: int = 0


def read_license_key(
    image: bytes,
    *,
    tesseract: str | Path | None = None,
    timeout: float = 10.0,
) -> KeyReading:
    """Read the license key in a screenshot (PNG, JPEG, WebP, ... as bytes).

    ``tesseract`` is the binary to run (default: ``tesseract`` on PATH); ``timeout`` bounds
    each run of it, in seconds. Raises ScreenshotUnreadable for bytes that are not an
    image, OcrUnavailable when Tesseract is missing or fails.
    """
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    binary = tesseract_binary(tesseract)
    grey = decode(image)
    checker = Checker()

    def result(text: str, key: str | None, passes: int) -> KeyReading:
        seconds = time.perf_counter() - started
        return KeyReading(text, key, key is not None, seconds, passes, checker.checks)

    whole = prepared(grey, WHOLE_IMAGE_KEY_HEIGHT / guess_key_height(grey))
    lines = lines_of(run_tesseract(binary, whole.image, psm=6, timeout=timeout))
    passes = 1
    for line in lines:
        key = checker.first_valid(candidates(line.words))
        if key is not None:
            return result(line.text, key, passes)
    target = most_key_like(lines)
    if target is None:
        return result("", None, passes)

    best, best_score = target.text, key_likeness(target.text)
    plain = [target]  # readings without a whitelist: what they read plainly is binding
    votes = GroupVotes()
    votes.add(target)
    crop = line_crop(whole, target)
    for line_pass in LINE_PASSES:
        if _cpu_seconds() - cpu_started > CPU_BUDGET or checker.exhausted:
            break
        factor = line_pass.key_height / max(1, target.height())
        line_image = prepared(crop, factor, binarise=line_pass.binarise)
        whitelist = HEX_WHITELIST if line_pass.whitelist else None
        tsv = run_tesseract(
            binary, line_image.image, psm=line_pass.psm, timeout=timeout, whitelist=whitelist
        )
        read = lines_of(tsv)
        passes += 1
        if not line_pass.whitelist:
            plain.extend(read)
        for line in read:
            votes.add(line)
            if key_likeness(line.text) > best_score:
                best, best_score = line.text, key_likeness(line.text)
        for line in read:
            key = checker.first_valid(candidates(line.words))
            if key is not None and not contradicted(key, plain):
                return result(line.text, key, passes)
        key = checker.first_valid(votes.combinations())
        if key is not None and not contradicted(key, plain):
            return result(format_license_key(key), key, passes)
    return result(best, None, passes)


@dataclass(frozen=True)
class _LinePass:
    key_height: int  # pixels
    binarise: bool
    whitelist: bool
    psm: int  # 13: a raw line, 7: a line of text


# Tried in turn on the line that looked most like a key, until one reads a key whose check
# value holds. Measured with bench/ocr.py: each reads keys the others miss; the raw line
# first, which reads Liberation Mono's dotted zero where the text line often doubles it;
# a small text line next, which reads the app's own picture's leading 4 (DejaVu Sans
# Mono at scale 1) that larger ones take for an A.
LINE_PASSES = (
    _LinePass(40, binarise=False, whitelist=False, psm=13),
    _LinePass(40, binarise=False, whitelist=False, psm=7),
    _LinePass(24, binarise=False, whitelist=False, psm=7),
    _LinePass(40, binarise=False, whitelist=True, psm=7),
    _LinePass(60, binarise=True, whitelist=True, psm=7),
    _LinePass(48, binarise=True, whitelist=True, psm=7),
)


# CPU seconds (ours and Tesseract's) after which no further pass is started (SPEC: under
# 2 s an image). CPU, not wall time: on a busy machine a reading takes longer but is as
# good, rather than giving up on passes that would have read the key.
CPU_BUDGET = 1.4


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime
