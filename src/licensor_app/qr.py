"""A QR code drawn with text: two rows of modules per line, in half blocks.

A terminal cell is about twice as tall as it is wide, so the upper half block (``▀``), the
lower one (``▄``), the full block and a space draw two modules each and keep the code
square. The window's style sets dark on light (a scanner wants dark modules on a light
ground whatever the theme); the quiet zone around it is the two modules the QR
specification's readers need at the least."""

from __future__ import annotations

import segno

_CELLS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def qr_text(data: str, *, border: int = 2) -> str:
    """``data`` as a QR code (low error correction: the code stays small on screen), in
    lines of half blocks: a dark module is a drawn half."""
    rows = [
        [bool(module) for module in row]
        for row in segno.make(data, error="l", micro=False).matrix_iter(border=border)
    ]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    return "\n".join(
        "".join(_CELLS[top, bottom] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(rows[::2], rows[1::2], strict=True)
    )
