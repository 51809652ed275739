"""The devices that hold a license's seats, as the server names them when an activation
meets the device limit (``DeviceLimitReached``), and the ways it offers to free one.

The refusal is not signed: it is shown to the customer to choose a device, and decides
nothing here, so what does not parse is left out rather than refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class SeatHolder:
    """A device holding a seat of the license: its name (the one its owner gave it in My
    Account, else its app's), platform, and when it was activated and last seen. ``seat``
    is an opaque reference that tells seats apart."""

    seat: str
    name: str
    platform: str
    activated_at: datetime | None
    last_seen_at: datetime | None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: Any, limit: int = 200) -> str:
    return value[:limit] if isinstance(value, str) else ""


def seat_holders(problem: dict[str, Any]) -> tuple[SeatHolder, ...]:
    """The devices a ``device_limit_reached`` problem names (none from an older server)."""
    devices = problem.get("devices")
    if not isinstance(devices, list):
        return ()
    return tuple(
        SeatHolder(
            seat=_text(item.get("seat"), 100),
            name=_text(item.get("name")),
            platform=_text(item.get("platform"), 100),
            activated_at=_time(item.get("activated_at")),
            last_seen_at=_time(item.get("last_seen_at")),
        )
        for item in devices[:100]
        if isinstance(item, dict)
    )


def optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def optional_url(value: Any) -> str | None:
    """A link to show, if it is one: http(s) only."""
    if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) < 2000:
        return value
    return None


def optional_time(value: Any) -> datetime | None:
    """A moment a problem names (ISO 8601), in UTC, if it is one."""
    return _time(value)
