"""Activation codes and license keys in free text: telling them, and keeping them out of
the support thread, which is stored in clear and searched by the desk.

Only a string whose check value holds counts, so a look-alike word or an order number is
left alone. Agents may not write one at all (``carries_code``, ``carries_license_key``);
what a customer types is kept with each code masked and each key replaced by what the desk
needs of it, the license's public ID (``redact``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from licensor.licensing import formats

_CODE_SHAPED = re.compile(
    r"\b[0-9A-Za-z]{5}([ \-]?)[0-9A-Za-z]{5}\1[0-9A-Za-z]{5}\1[0-9A-Za-z]{5}\b"
)
_KEY_SHAPED = re.compile(r"\b[0-9A-Fa-f]{4}(?:([ \-]?)[0-9A-Fa-f]{4})(?:\1[0-9A-Fa-f]{4}){6}\b")


def carries_code(text: str) -> bool:
    """Whether the text holds a well-formed activation code (its check value holding)."""
    return any(formats.is_valid_code(match.group(0)) for match in _CODE_SHAPED.finditer(text))


def carries_license_key(text: str) -> bool:
    """Whether the text holds a well-formed license key (its check value holding)."""
    return any(formats.is_valid_license_key(match.group(0)) for match in _KEY_SHAPED.finditer(text))


def redact(text: str, public_id_of: Callable[[str], str | None]) -> str:
    """The text with every well-formed code masked and every well-formed license key
    replaced by its license's public ID (``public_id_of`` the canonical key; None when no
    license has it, and the key is masked instead)."""

    def key(match: re.Match[str]) -> str:
        try:
            canonical = formats.normalize_license_key(match.group(0))
        except formats.MalformedError:
            return match.group(0)
        public_id = public_id_of(canonical)
        return f"[{public_id}]" if public_id else f"[{formats.mask_license_key(canonical)}]"

    def code(match: re.Match[str]) -> str:
        try:
            canonical = formats.normalize_code(match.group(0))
        except formats.MalformedError:
            return match.group(0)
        return f"[{formats.mask_code(canonical)}]"

    # Keys first: a key's digits could hold something code-shaped, never the reverse.
    return _CODE_SHAPED.sub(code, _KEY_SHAPED.sub(key, text))
