"""A fixed-window limit by name: at most ``limit`` hits per ``window`` seconds, as the
settings spell it (``"20/minute"``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window: int

    @classmethod
    def parse(cls, name: str, text: str) -> Rule:
        """``"20/minute"``, ``"5/10 seconds"``, ``"100/hour"``."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)?\s*(second|minute|hour|day)s?\s*", text)
        if not match:
            raise ValueError(f"rate {text!r}: expected e.g. '20/minute'")
        limit, count, unit = match.groups()
        return cls(name, int(limit), int(count or 1) * _UNITS[unit])
