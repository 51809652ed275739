"""The one place time is read, so tests can move it (the only fake inside the server)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


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


class MailTime(str):
    """A moment for a mail: ``2026-12-05 10:15:00 UTC`` as text, and the moment itself,
    which the mail's renderer says in the recipient's language (mail/outbox.py)."""

    moment: datetime

    def __new__(cls, moment: datetime) -> MailTime:
        made = super().__new__(
            cls, (isoformat(moment) or "").replace("T", " ").replace("Z", " UTC")
        )
        made.moment = moment
        return made


class MailDate(str):
    """A day for a mail: ``2026-12-05`` as text, and the day itself, which the mail's
    renderer says in the recipient's language (``5 dic 2026``, ``Dec 5, 2026``)."""

    day: date

    def __new__(cls, day: date) -> MailDate:
        made = super().__new__(cls, day.isoformat())
        made.day = day
        return made


def mail_date(moment: date | datetime) -> str:
    """The day of ``moment`` (UTC) as mails say it, in the recipient's language."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
    return MailDate(moment)


def mail_time(moment: datetime) -> str:
    """A moment as mails say it: ``5 dic 2026, 10:15 UTC`` in an Italian mail, ``Dec 5,
    2026, 10:15 AM UTC`` in an English one (``2026-12-05 10:15:00 UTC`` as plain text)."""
    return MailTime(moment)
