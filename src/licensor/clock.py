"""The one place time is read, so tests can move it (the only fake inside the server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock UTC time, shifted by an offset that tests may set."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


clock = Clock()


def isoformat(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, seconds precision; the format of every API timestamp."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def mail_time(moment: datetime) -> str:
    """A moment as mails say it: ``2026-12-05 10:15:00 UTC``."""
    return (isoformat(moment) or "").replace("T", " ").replace("Z", " UTC")
