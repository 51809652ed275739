"""Activation codes and license keys in free text: telling them, and keeping them out of
the support thread, which is stored in clear and searched by the desk.

A code counts when activation would take it: the text is read the way activation reads
what it is given (``formats.normalize_code``, ``formats.normalize_license_key``: any case,
O, I and L for 0 and 1, separators anywhere or none), over candidate windows, and only a
window whose check value holds is one. So ``6jpet.26gv0 a08j5-bt3zx`` is caught as surely as
the printed ``6JPET-26GV0-A08J5-BT3ZX``, and a look-alike word or an order number is left
alone. Agents may not write one at all (``carries_code``, ``carries_license_key``); what a
customer types is kept with each code masked and each key replaced by what the desk needs
of it, the license's public ID (``redact``).

The windows: the text is cut into *runs* of letters and digits joined only by separators
(what normalisation drops, and the look-alikes people paste: "/", any Unicode space, dash
or invisible format character); within a run, a window is a span of whole tokens (letters
and digits between separators) holding exactly 20 symbols (a code) or 32 (a key), which is
what someone copies to paste into the app. Token lengths are positive, so each token starts
at most one window of each size: the work grows linearly with the text. A code glued to a
word on either side (``code6JPET…``) is not one, as activation would not take it either.

A window that passes the check by chance is possible (one in 1,024 for a code, about one
in 16 million for a key) among words joined by spaces and dots; such a note is refused
with a message and can be reworded. Masks and public IDs are never candidates.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from licensor.licensing import formats

_EXTRA_SEPARATORS = "/\u2212\u00ad"  # slash, minus sign, soft hyphen
_SEPARATOR_CATEGORIES = ("Zs", "Zl", "Zp", "Pd", "Cf")
_KEY_SYMBOLS = frozenset("0123456789ABCDEFO")
# A masked code (``XXXXX-XXXXX-XXXXX-7K3MQ``) holds 20 symbols and passes the check one time
# in 1,024; no issued code starts with fifteen X (a chance of 2^-75).
_MASK_PREFIX = "X" * 15


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    symbols: str  # as normalisation reads them: upper case, ASCII


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    canonical: str


def _read(char: str) -> str | None:
    """The symbols normalisation reads in one character, or None: ASCII letters and
    digits, and the few characters whose upper case is made of them (ß reads SS, the
    dotless i reads I), since activation upper-cases what it is given before anything
    else."""
    if char.isascii():
        return char.upper() if char.isalnum() else None
    upper = char.upper()
    return upper if upper.isascii() and upper.isalnum() else None


def _is_separator(char: str) -> bool:
    return (
        char in formats.SEPARATORS
        or char in _EXTRA_SEPARATORS
        or char.isspace()
        or unicodedata.category(char) in _SEPARATOR_CATEGORIES
    )


def _runs(text: str) -> Iterator[list[_Token]]:
    """Tokens joined only by separators; any other character ends a run."""
    run: list[_Token] = []
    start = -1
    symbols: list[str] = []
    for index, char in enumerate(text):
        read = _read(char)
        if read is not None:
            if start < 0:
                start, symbols = index, []
            symbols.append(read)
            continue
        if start >= 0:
            run.append(_Token(start, index, "".join(symbols)))
            start = -1
        if not _is_separator(char) and run:
            yield run
            run = []
    if start >= 0:
        run.append(_Token(start, len(text), "".join(symbols)))
    if run:
        yield run


def _windows(run: list[_Token], size: int) -> Iterator[tuple[int, int, str]]:
    """(start, end, symbols) of each span of whole tokens holding ``size`` symbols."""
    end = 0
    held = 0
    for first, token in enumerate(run):
        while end < len(run) and held < size:
            held += len(run[end].symbols)
            end += 1
        if held == size:
            yield token.start, run[end - 1].end, "".join(t.symbols for t in run[first:end])
        held -= len(token.symbols)


def _codes(text: str) -> Iterator[_Found]:
    for run in _runs(text):
        for start, end, symbols in _windows(run, formats.CODE_LENGTH):
            if "U" in symbols:
                continue
            try:
                canonical = formats.normalize_code(symbols)
            except formats.MalformedError:
                continue
            if not canonical.startswith(_MASK_PREFIX):
                yield _Found(start, end, canonical)


def _keys(text: str) -> Iterator[_Found]:
    for run in _runs(text):
        for start, end, symbols in _windows(run, 2 * formats.KEY_BYTES):
            if not _KEY_SYMBOLS.issuperset(symbols):
                continue
            try:
                yield _Found(start, end, formats.normalize_license_key(symbols))
            except formats.MalformedError:
                continue


def carries_code(text: str) -> bool:
    """Whether the text holds a spelling of an activation code that activation would
    take (its check value holding)."""
    return any(True for _ in _codes(text))


def carries_license_key(text: str) -> bool:
    """Whether the text holds a spelling of a license key (its check value holding)."""
    return any(True for _ in _keys(text))


def redact(text: str, public_id_of: Callable[[str], str | None]) -> str:
    """The text with every code masked and every license key replaced by its license's
    public ID (``public_id_of`` the canonical key; None when no license has it, and the key
    is masked instead). Spans that overlap are replaced together, so no part of either is
    left in clear; the masks of those that do not overlap each other are shown."""
    keys = list(_keys(text))
    spans: list[tuple[int, int, str]] = []
    for key in keys:
        public_id = public_id_of(key.canonical)
        spans.append(
            (key.start, key.end, f"[{public_id or formats.mask_license_key(key.canonical)}]")
        )
    # Key windows come in order of start, and so of end (each holds 32 symbols).
    key_starts = [key.start for key in keys]
    for code in _codes(text):
        # A window that shares symbols with a key passes a code's check by chance (a key's
        # digits, or a word beside them): the key is what was written.
        before = bisect_left(key_starts, code.end) - 1
        if before < 0 or keys[before].end <= code.start:
            spans.append((code.start, code.end, f"[{formats.mask_code(code.canonical)}]"))
    if not spans:
        return text
    spans.sort()
    pieces: list[str] = []
    replaced_to = 0  # the text before this is written or replaced
    shown_to = 0  # the end of the last span whose replacement is written
    for start, end, replacement in spans:
        if start >= replaced_to:
            pieces += [text[replaced_to:start], replacement]
            shown_to = end
        elif start >= shown_to:
            # Overlapping the spans before, not the last one shown: replaced with them.
            pieces.append(" " + replacement)
            shown_to = end
        replaced_to = max(replaced_to, end)
    pieces.append(text[replaced_to:])
    return "".join(pieces)
