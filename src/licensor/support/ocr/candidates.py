"""What Tesseract read, as candidate keys: words that stand for hex digits (look-alike
letters mapped, each candidate's variants bounded), groups of four combined across passes,
and every candidate tried by its check value, at most MAX_CHECKS an image."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator

from licensor.licensing.formats import KEY_BYTES, MalformedError, normalize_license_key
from licensor.support.ocr.tesseract import Line, Word

KEY_DIGITS = 2 * KEY_BYTES
HEX_DIGITS = "0123456789ABCDEF"
# O too: told to leave it out, Tesseract drops or swaps the dotted zero of DejaVu Mono.
# Lower case too: told upper case only, Tesseract reads a key written in lower case as
# garbage; a lower-case letter stands for the same digit.
HEX_WHITELIST = HEX_DIGITS + "O" + "abcdef"
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
        "\u00a3": "F",  # £, as read for a lower-case f
        "g": "9",
        "q": "9",
    }
)
# Letters read for either of two digits: each stands for its first digit only, and agrees
# with either when readings are compared (contradicted). Trying both ways is a mend: a
# picture of a key one digit off, its 0 read as O, passed as the valid key with a 9 there
# (bench/ocr.py --count 0 --invalid 300 --seed 8, picture 5).
_ALTERNATIVES = {"O": "09", "o": "09", "Q": "90"}
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


def candidates(words: Iterable[Word]) -> Iterator[str]:
    """32 characters as read, from consecutive whole words that stand for hex digits."""
    run: list[str] = []
    for word in [*words, None]:
        read = _as_hex(word.text) if word is not None else None
        if read is not None:
            run.append(read)
            continue
        yield from _windows(run)
        run = []


def joined_candidates(first: Line, second: Line) -> Iterator[str]:
    """32 characters from a key wrapped over two lines: the hex words that end the first
    line followed by those that begin the second (16 digits each, or split at a group)."""
    ending = _leading_hex(list(reversed(first.words)))[::-1]
    beginning = _leading_hex(list(second.words))
    if ending and beginning:
        yield from _windows_across(ending, beginning)


def _leading_hex(words: list[Word]) -> list[str]:
    run: list[str] = []
    for word in words:
        read = _as_hex(word.text)
        if read is None:
            break
        run.append(read)
    return run


def _windows_across(ending: list[str], beginning: list[str]) -> Iterator[str]:
    """The 32-character windows of ending + beginning that take from both."""
    run = ending + beginning
    for start in range(len(ending)):
        joined = ""
        for position, read in enumerate(run[start:], start):
            joined += read
            if len(joined) >= KEY_DIGITS:
                if len(joined) == KEY_DIGITS and position >= len(ending):
                    yield joined
                break


def wrapped_pairs(lines: list[Line]) -> Iterator[tuple[Line, Line]]:
    """Consecutive lines that may hold a key wrapped over them: the first ends and the
    second begins with hex words, of 8 digits or more each, the second fewer than 32 (a
    label read as hex may lengthen the first)."""
    for first, second in itertools.pairwise(lines):
        ending = "".join(_leading_hex(list(reversed(first.words))))
        beginning = "".join(_leading_hex(list(second.words)))
        if len(ending) >= 8 and 8 <= len(beginning) < KEY_DIGITS:
            yield first, second


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
    """The digits a reading stands for: one string, each look-alike as its first digit."""
    yield "".join(_ALTERNATIVES.get(character, _as_digits(character))[0] for character in read)


class Checker:
    """Tries check values, each distinct string once, MAX_CHECKS an image at most."""

    def __init__(self) -> None:
        self.tried: set[str] = set()

    @property
    def checks(self) -> int:
        return len(self.tried)

    @property
    def exhausted(self) -> bool:
        return len(self.tried) >= MAX_CHECKS

    def valid(self, candidates: Iterable[str]) -> set[str]:
        """Every key whose check value holds among the candidates' variants."""
        found: set[str] = set()
        for candidate in candidates:
            for digits in _variants(candidate):
                if digits in self.tried or self.exhausted:
                    continue
                self.tried.add(digits)
                try:
                    found.add(normalize_license_key(digits))
                except MalformedError:
                    continue
        return found

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


def key_likeness(text: str) -> int:
    """How much a line looks like a key: its hex digits, more for groups of four."""
    score = 0
    for word in text.split():
        digits = _as_hex(word)
        if digits:
            score += len(digits) + (2 if len(digits) == 4 else 0)
    return score


def most_key_like(lines: list[Line]) -> Line | None:
    """The line that looks most like a key, if any looks like one at all."""
    scored = [(line, key_likeness(line.text)) for line in lines]
    scored = [(line, score) for line, score in scored if score >= 8]
    if not scored:
        return None
    return max(scored, key=lambda pair: pair[1])[0]


def _key_closeness(words: list[Word]) -> int:
    """How close the longest run of hex words comes to a key: its digits up to 32, less
    twice those beyond 34 (a SHA-1 or SHA-256 is longer), more for groups of four."""
    best = 0
    run: list[str] = []
    for word in [*words, None]:
        read = _nearly_hex(word.text) if word is not None else None
        if read is not None:
            run.append(read)
            continue
        digits = sum(len(read) for read in run)
        groups = sum(1 for read in run if len(read) == 4)
        best = max(best, min(digits, KEY_DIGITS) - 2 * max(0, digits - 34) + min(groups, GROUPS))
        run = []
    return best


def _nearly_hex(word: str) -> str | None:
    """The word if it stands for hex digits, or nearly (one character in eight or fewer
    unreadable: a speck read as #), to choose which line to read again; never a key."""
    read = _as_hex(word)
    if read is not None:
        return read
    cleaned = _STRAY_MARKS.sub("", word)
    digits = _as_digits(cleaned)
    readable = sum(1 for character in digits if character in HEX_DIGITS)
    return cleaned if len(cleaned) >= 4 and 8 * readable >= 7 * len(cleaned) else None


def key_like_targets(lines: list[Line], count: int) -> list[tuple[Line, ...]]:
    """The lines (or pairs of lines, for a key wrapped over two) most like a key, best
    first, at most ``count``."""
    scored: list[tuple[int, tuple[Line, ...]]] = [
        (_key_closeness(list(line.words)), (line,)) for line in lines
    ]
    for first, second in wrapped_pairs(lines):
        ending = _leading_hex(list(reversed(first.words)))
        beginning = _leading_hex(list(second.words))
        digits = len("".join(ending + beginning))
        groups = sum(1 for read in ending + beginning if len(read) == 4)
        closeness = min(digits, KEY_DIGITS) - 2 * max(0, digits - 34) + min(groups, GROUPS)
        scored.append((closeness, (first, second)))
    scored = [(score, target) for score, target in scored if score >= 8]
    scored.sort(key=lambda pair: -pair[0])
    return [target for _score, target in scored[:count]]


def _aligned_groups(line: Line) -> list[str | None] | None:
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


def contradicted(license_key: str, plain: list[Line]) -> bool:
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


class GroupVotes:
    """The groups of four read at each of the key's eight places, over all passes."""

    def __init__(self) -> None:
        self.places: list[dict[str, int]] = [{} for _ in range(GROUPS)]

    def add(self, line: Line) -> None:
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
