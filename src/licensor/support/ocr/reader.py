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
    joined_candidates,
    key_like_targets,
    key_likeness,
    wrapped_pairs,
)
from licensor.support.ocr.image import (
    decode,
    deskewed,
    evenly_lit,
    guess_key_height,
    line_crop,
    prepared,
)
from licensor.support.ocr.tesseract import Line, lines_of, run_tesseract, tesseract_binary

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
    grey = deskewed(decode(image))
    checker = Checker()

    def result(text: str, key: str | None, passes: int) -> KeyReading:
        seconds = time.perf_counter() - started
        return KeyReading(text, key, key is not None, seconds, passes, checker.checks)

    whole = prepared(grey, WHOLE_IMAGE_KEY_HEIGHT / guess_key_height(grey))
    lines = lines_of(run_tesseract(binary, whole.image, psm=6, timeout=timeout))
    passes = 1
    found = _keys_read(lines, checker)
    if not found and _cpu_seconds() - cpu_started < CPU_BUDGET:
        # A photographed screen: lit evenly and enlarged, the whole picture again.
        again = prepared(evenly_lit(grey), EVENLY_LIT_SCALE * whole.factor)
        found = _keys_read(
            lines_of(run_tesseract(binary, again.image, psm=6, timeout=timeout)), checker
        )
        passes += 1
    if len(found) > 1:
        # Two keys on one picture (two licenses, or a hash that passed by chance): which
        # one the customer means is the agent's call, never the reader's.
        return result(" / ".join(found.values()), None, passes)
    if found:
        key, text = next(iter(found.items()))
        return result(text, key, passes)
    targets = key_like_targets(lines, TARGETS)
    if not targets:
        return result("", None, passes)

    best = max(targets[0], key=lambda line: key_likeness(line.text)).text
    best_score = key_likeness(best)
    for target in targets:
        plain = list(target)  # readings without a whitelist: what they read plainly binds
        votes = GroupVotes()
        for line in target:
            votes.add(line)
        # A wrapped key's two lines are cut out and read each as a line, then joined.
        crops = [(line_crop(whole, line), line.height()) for line in target]
        for line_pass in LINE_PASSES:
            if _cpu_seconds() - cpu_started > CPU_BUDGET or checker.exhausted:
                return result(best, None, passes)
            whitelist = HEX_WHITELIST if line_pass.whitelist else None
            read: list[Line] = []
            for crop, height in crops:
                line_image = prepared(
                    crop, line_pass.key_height / max(1, height), binarise=line_pass.binarise
                )
                tsv = run_tesseract(
                    binary,
                    line_image.image,
                    psm=line_pass.psm,
                    timeout=timeout,
                    whitelist=whitelist,
                )
                read += lines_of(tsv)
                passes += 1
            if not line_pass.whitelist:
                plain.extend(read)
            for line in read:
                votes.add(line)
                if key_likeness(line.text) > best_score:
                    best, best_score = line.text, key_likeness(line.text)
            keys = {
                key: text
                for key, text in _keys_read(read, checker).items()
                if not contradicted(key, plain)
            }
            if len(keys) > 1:
                return result(" / ".join(keys.values()), None, passes)
            if keys:
                key, text = next(iter(keys.items()))
                return result(text, key, passes)
            combined = checker.first_valid(votes.combinations())
            if combined is not None and not contradicted(combined, plain):
                return result(format_license_key(combined), combined, passes)
    return result(best, None, passes)


def _keys_read(lines: list[Line], checker: Checker) -> dict[str, str]:
    """Each key whose check value holds in the lines, one line's or wrapped over two, and
    the text it was read in."""
    found: dict[str, str] = {}
    for line in lines:
        for key in checker.valid(candidates(line.words)):
            found.setdefault(key, line.text)
    for first, second in wrapped_pairs(lines):
        for key in checker.valid(joined_candidates(first, second)):
            found.setdefault(key, f"{first.text} {second.text}")
    return found


# The second whole-picture pass, on the evenly lit picture, is this much larger than the
# first: measured with bench/ocr.py's photos, the two together read most of them.
EVENLY_LIT_SCALE = 1.4

# Lines (or pairs of lines) most like a key that are cut out and read again, in turn: the
# key's own line may rank below a hash's (an MD5 has as many digits).
TARGETS = 2


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
