"""The license key read from a screenshot of the License details window, by Tesseract.

A customer who lost a printed card attaches such a screenshot to a support request; the
desk shows the key read from it. A reading is trusted only when the key's check value
holds (three Reed-Solomon bytes, ``docs/formats.md``): a misread key passes with
probability 2^-24 per candidate tried, so few candidates are ever tried (at most
MAX_CHECKS an image) and no check value is ever "corrected" into another key.

The image goes through a few passes, cheapest first, each stopping the search when a
candidate's check value holds:

1. the whole window, in grey, dark themes inverted, small text enlarged;
2. the line that looked most like a key, cut out and enlarged, read as one line: in grey
   as a raw line (``--psm 13``) and as a text line (``--psm 7``), then told to expect
   hexadecimal digits only (Tesseract's whitelist), in grey and binarised at two sizes.
   After each pass the groups of four digits read so far are also combined across passes
   (a group misread in one pass is often read right in another), each combination still
   checked by the check value. A key that changes a digit which a plain reading (no
   whitelist) read as itself, where no plain reading agrees with it, is refused
   (``_contradicted``). Nothing read is ever mended (a digit swapped, a character taken
   out of a group of five): a picture of a key one digit off would then pass as the key
   it is one digit from, which is what bench/ocr.py's pictures of invalid keys test.

Tesseract (Debian: ``tesseract-ocr`` and ``tesseract-ocr-eng``) runs as a child process,
one thread, under a time limit; Pillow decodes and prepares the image.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import re
import resource
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from licensor.errors import LicensorError
from licensor.licensing.formats import (
    KEY_BYTES,
    MalformedError,
    format_license_key,
    normalize_license_key,
)

DEBIAN_PACKAGES = "tesseract-ocr tesseract-ocr-eng"
KEY_DIGITS = 2 * KEY_BYTES
# Larger pictures are not screenshots of one window; Pillow warns of bombs at 89 MP.
MAX_PIXELS = 40_000_000
# Text height (pixels) Tesseract reads best; the key is enlarged or shrunk towards it.
WHOLE_IMAGE_KEY_HEIGHT = 34
HEX_DIGITS = "0123456789ABCDEF"
# O too: told to leave it out, Tesseract drops or swaps the dotted zero of DejaVu Mono.
HEX_WHITELIST = HEX_DIGITS + "O"

# What Tesseract reads for a hex digit in the window's fonts. Only letters that are not
# hex digits are mapped (B stays B, D stays D): a wrong mapping costs a failed check,
# never a wrong key, since every candidate must pass the check value.
_CONFUSIONS = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "Q": "9",  # as read for a 9; the O and zero look alike, Q has the 9's tail
        "Y": "9",
        "@": "0",
        "\u00a9": "0",  # ©, as read for a dotted or slashed zero
        "U": "0",
        "I": "1",
        "i": "1",
        "l": "1",
        "L": "1",
        "|": "1",
        "!": "1",
        "]": "1",
        "[": "1",
        "S": "5",
        "s": "5",
        "G": "6",
        "Z": "2",
        "z": "2",
        "T": "7",
        "g": "9",
        "q": "9",
    }
)
# Letters read for either of two digits: each is tried both ways (the check value decides).
_ALTERNATIVES = {"O": "09", "o": "09", "Q": "90"}
# Readings tried per candidate, at most: each passes the check value by chance with
# probability 2^-24, so 64 keep a wrong key below one in 250,000 even for a candidate
# that is all misreadings.
MAX_VARIANTS = 64
# Distinct 32-digit strings whose check value is tried per image, at most, over every
# pass and combination: below one wrong key in 130,000 even for a picture whose every
# reading is wrong (and two keys differ in at least four bytes, so a reading with up to
# three bytes misread can never pass as another key). bench/ocr.py reports the most used
# (24 on its default corpus; 104 on pictures of invalid keys, which go through every pass).
MAX_CHECKS = 128
# Combinations of groups read in different passes tried after each pass, at most.
MAX_COMBINATIONS = 16
GROUPS = KEY_DIGITS // 4
_HEX_WORD = re.compile(r"[0-9A-F]+")
_STRAY_MARKS = re.compile(r"[-/\u2010-\u2014_.,:;'`\"\u2018\u2019\u201a\u201c\u201d\u20ac$%^*~]")
_SEPARATOR_ONLY = re.compile(r"[-\u2010-\u2014_.,:;'`\"]+")


class ScreenshotUnreadable(LicensorError):
    status = 422
    code = "screenshot_unreadable"
    title = "This file is not an image that can be read"


class OcrUnavailable(LicensorError):
    status = 503
    code = "ocr_unavailable"
    title = "The screenshot reader (Tesseract) is not available"


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


@dataclass(frozen=True)
class _Word:
    text: str
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class _Line:
    words: tuple[_Word, ...]

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
    binary = _tesseract_binary(tesseract)
    grey = _decode(image)
    checker = _Checker()

    def result(text: str, key: str | None, passes: int) -> KeyReading:
        seconds = time.perf_counter() - started
        return KeyReading(text, key, key is not None, seconds, passes, checker.checks)

    whole = _prepared(grey, WHOLE_IMAGE_KEY_HEIGHT / _guess_key_height(grey))
    lines = _lines(_run(binary, whole.image, psm=6, timeout=timeout))
    passes = 1
    for line in lines:
        key = checker.first_valid(_candidates(line.words))
        if key is not None:
            return result(line.text, key, passes)
    target = _most_key_like(lines)
    if target is None:
        return result("", None, passes)

    best, best_score = target.text, _key_likeness(target.text)
    plain = [target]  # readings without a whitelist: what they read plainly is binding
    votes = _GroupVotes()
    votes.add(target)
    crop = _line_crop(whole, target)
    for line_pass in LINE_PASSES:
        if _cpu_seconds() - cpu_started > CPU_BUDGET or checker.exhausted:
            break
        factor = line_pass.key_height / max(1, target.height())
        line_image = _prepared(crop, factor, binarise=line_pass.binarise)
        whitelist = HEX_WHITELIST if line_pass.whitelist else None
        tsv = _run(
            binary, line_image.image, psm=line_pass.psm, timeout=timeout, whitelist=whitelist
        )
        read = _lines(tsv)
        passes += 1
        if not line_pass.whitelist:
            plain.extend(read)
        for line in read:
            votes.add(line)
            if _key_likeness(line.text) > best_score:
                best, best_score = line.text, _key_likeness(line.text)
        for line in read:
            key = checker.first_valid(_candidates(line.words))
            if key is not None and not _contradicted(key, plain):
                return result(line.text, key, passes)
        key = checker.first_valid(votes.combinations())
        if key is not None and not _contradicted(key, plain):
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


def _aligned_groups(line: _Line) -> list[str | None] | None:
    """The line's eight groups as read (None where a group could not be read), when its
    words line up with the key's groups; else None."""
    words = [_as_hex(word.text) for word in line.words]
    joined = "".join(word for word in words if word)
    if all(word is not None for word in words) and len(joined) == KEY_DIGITS:
        return [joined[start : start + 4] for start in range(0, KEY_DIGITS, 4)]
    groups = [word for word in words if word != ""]  # separators read as words dropped
    if len(groups) != GROUPS:
        return None
    return [group if group is not None and len(group) == 4 else None for group in groups]


def _agrees(group: str, digits: str) -> bool:
    return all(
        digit in _ALTERNATIVES.get(character, _as_digits(character))
        for character, digit in zip(group, digits, strict=True)
    )


def _contradicted(license_key: str, plain: list[_Line]) -> bool:
    """Whether a key changes, in some group, a digit that a plain reading (no whitelist)
    read as itself, while no plain reading agrees with the key in that group.

    Told to output only hex digits, Tesseract sometimes swaps a clear digit for another
    (a C read as 0): such a reading may settle what the plain ones read as a look-alike
    or could not read, never overrule all of them.
    """
    aligned = [groups for groups in map(_aligned_groups, plain) if groups is not None]
    for position in range(GROUPS):
        digits = license_key[4 * position : 4 * position + 4]
        read = [group for groups in aligned if (group := groups[position]) is not None]
        clash = any(
            character in HEX_DIGITS and character != digit
            for group in read
            for character, digit in zip(group, digits, strict=True)
        )
        if clash and not any(_agrees(group, digits) for group in read):
            return True
    return False


class _GroupVotes:
    """The groups of four read at each of the key's eight places, over all passes."""

    def __init__(self) -> None:
        self.places: list[dict[str, int]] = [{} for _ in range(GROUPS)]

    def add(self, line: _Line) -> None:
        groups = _aligned_groups(line)
        if groups is None:
            return
        for place, group in zip(self.places, groups, strict=True):
            if group is not None:
                place[group] = place.get(group, 0) + 1

    def combinations(self) -> Iterator[str]:
        """Keys as read, one group from each place: most often read first."""
        ranked = [sorted(place, key=lambda group: -place[group]) for place in self.places]
        if not all(ranked) or all(len(choices) == 1 for choices in ranked):
            return  # a place never read; or one reading only, already tried as it is
        width = 3
        while math.prod(min(width, len(choices)) for choices in ranked) > 4096:
            width -= 1
        choices = [list(enumerate(groups[:width])) for groups in ranked]
        combined = sorted(
            itertools.product(*choices), key=lambda picked: sum(rank for rank, _ in picked)
        )
        for picked in combined[:MAX_COMBINATIONS]:
            yield "".join(group for _rank, group in picked)


# --- the image --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    image: Image.Image
    factor: float  # prepared pixels per pixel of the grey original


def _decode(data: bytes) -> Image.Image:
    """The image in grey, light text on dark turned to dark on light."""
    try:
        with warnings.catch_warnings():
            # Refused below by MAX_PIXELS, which is stricter than Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            picture: Image.Image = Image.open(io.BytesIO(data))
        if picture.width * picture.height > MAX_PIXELS:
            raise ScreenshotUnreadable(
                f"the image has {picture.width} x {picture.height} pixels: too large"
            )
        picture.load()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
    ) as error:
        raise ScreenshotUnreadable(f"not an image Pillow can decode: {error}") from None
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        picture = flat
    grey = ImageOps.grayscale(picture.convert("RGB"))
    if _median(grey.histogram()) < 128:
        grey = ImageOps.invert(grey)
    return grey


def _median(histogram: list[int]) -> int:
    half = sum(histogram) / 2
    seen = 0
    for level, count in enumerate(histogram):
        seen += count
        if seen >= half:
            return level
    return 255


def _guess_key_height(grey: Image.Image) -> float:
    """The key's text height, guessed from the width of the window (the app draws the key
    at 24 px in a window 680 px wide at scale 1, digits about 18 px high)."""
    return max(6.0, 18.0 * grey.width / 680)


def _prepared(grey: Image.Image, factor: float, *, binarise: bool = False) -> _Prepared:
    factor = min(4.0, max(0.5, factor))
    if abs(factor - 1) > 0.05:
        size = (max(1, round(grey.width * factor)), max(1, round(grey.height * factor)))
        grey = grey.resize(size, Image.Resampling.LANCZOS)
    else:
        factor = 1.0
    if binarise:
        level = _otsu(grey.histogram())
        grey = grey.point([0 if value <= level else 255 for value in range(256)])
    return _Prepared(grey, factor)


def _otsu(histogram: list[int]) -> int:
    """Otsu's threshold: the level that best separates ink from paper."""
    total = sum(histogram)
    weighted_total = sum(level * count for level, count in enumerate(histogram))
    background = weighted = 0.0
    best_level, best_variance = 127, -1.0
    for level, count in enumerate(histogram):
        background += count
        if background == 0:
            continue
        foreground = total - background
        if foreground == 0:
            break
        weighted += level * count
        mean_back = weighted / background
        mean_fore = (weighted_total - weighted) / foreground
        variance = background * foreground * (mean_back - mean_fore) ** 2
        if variance > best_variance:
            best_level, best_variance = level, variance
    return best_level


def _line_crop(whole: _Prepared, line: _Line) -> Image.Image:
    left, top, right, bottom = line.box()
    margin = max(4, line.height() // 2)
    return whole.image.crop(
        (
            max(0, left - margin),
            max(0, top - margin),
            min(whole.image.width, right + margin),
            min(whole.image.height, bottom + margin),
        )
    )


# --- Tesseract --------------------------------------------------------------------------


def _tesseract_binary(configured: str | Path | None) -> str:
    name = str(configured) if configured is not None else "tesseract"
    found = shutil.which(name)
    if found is None:
        raise OcrUnavailable(f"{name!r} was not found: install Debian's {DEBIAN_PACKAGES} packages")
    return found


def _run(
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


def _lines(tsv: str) -> list[_Line]:
    """Words grouped into lines, in reading order."""
    grouped: dict[tuple[str, str, str], list[_Word]] = {}
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
            continue
        word = _Word(
            fields[11].strip(), int(fields[6]), int(fields[7]), int(fields[8]), int(fields[9])
        )
        grouped.setdefault((fields[2], fields[3], fields[4]), []).append(word)
    return [_Line(tuple(words)) for words in grouped.values()]


# --- candidates -------------------------------------------------------------------------


def _as_hex(word: str) -> str | None:
    """The word as read, less stray strokes, if each of its characters stands for a hex
    digit (itself or a look-alike); else None."""
    if _SEPARATOR_ONLY.fullmatch(word):
        return ""
    # A slash or dash inside a group is a stroke of a 7 or the like read twice; quotes,
    # commas and currency signs are specks or a cursor read as marks.
    cleaned = _STRAY_MARKS.sub("", word)
    if not cleaned:
        return ""
    return cleaned if _HEX_WORD.fullmatch(_as_digits(cleaned)) else None


def _as_digits(text: str) -> str:
    return text.translate(_CONFUSIONS).upper()


def _candidates(words: Iterable[_Word]) -> Iterator[str]:
    """32 characters as read, from consecutive whole words that stand for hex digits."""
    run: list[str] = []
    for word in [*words, None]:
        read = _as_hex(word.text) if word is not None else None
        if read is not None:
            run.append(read)
            continue
        yield from _windows(run)
        run = []


def _windows(run: list[str]) -> Iterator[str]:
    for start in range(len(run)):
        joined = ""
        for read in run[start:]:
            joined += read
            if len(joined) >= KEY_DIGITS:
                break
        if len(joined) == KEY_DIGITS:
            yield joined


def _variants(read: str) -> Iterator[str]:
    """The digits a reading may stand for: one string, or a few when it holds letters that
    stand for two digits (an O for a 0 or a 9), at most MAX_VARIANTS."""
    choices = [_ALTERNATIVES.get(character, _as_digits(character)) for character in read]
    if math.prod(len(choice) for choice in choices) > MAX_VARIANTS:
        choices = [choice[0] for choice in choices]
    for digits in itertools.product(*choices):
        yield "".join(digits)


class _Checker:
    """Tries check values, each distinct string once, MAX_CHECKS an image at most."""

    def __init__(self) -> None:
        self.tried: set[str] = set()

    @property
    def checks(self) -> int:
        return len(self.tried)

    @property
    def exhausted(self) -> bool:
        return len(self.tried) >= MAX_CHECKS

    def first_valid(self, candidates: Iterable[str]) -> str | None:
        """The first key whose check value holds among the candidates' variants."""
        for candidate in candidates:
            for digits in _variants(candidate):
                if digits in self.tried:
                    continue
                if self.exhausted:
                    return None
                self.tried.add(digits)
                try:
                    return normalize_license_key(digits)
                except MalformedError:
                    continue
        return None


def _key_likeness(text: str) -> int:
    """How much a line looks like a key: its hex digits, more for groups of four."""
    score = 0
    for word in text.split():
        digits = _as_hex(word)
        if digits:
            score += len(digits) + (2 if len(digits) == 4 else 0)
    return score


def _most_key_like(lines: list[_Line]) -> _Line | None:
    scored = [(line, _key_likeness(line.text)) for line in lines]
    scored = [(line, score) for line, score in scored if score >= 8]
    if not scored:
        return None
    return max(scored, key=lambda pair: pair[1])[0]
