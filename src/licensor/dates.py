"""Days and moments as a language writes and types them (Babel): pages and mail.

Shown: ``format_date`` (``Dec 5, 2026``, ``5 dic 2026``) and ``format_datetime`` (with
the time, in UTC, as every moment is stored). Typed: ``parse_typed_date`` reads the
language's short format (day first in Italian, month first in English) or ISO.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from babel import Locale
from babel import dates as babel_dates

ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


def _utc(moment: datetime) -> datetime:
    # Stored moments are UTC, some without their zone (SQLite gives them back naive).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_date(value: date | datetime | None, language: str) -> str:
    """A day as the language writes it: ``Dec 5, 2026``, ``5 dic 2026``; '' for None."""
    if value is None:
        return ""
    day = _utc(value).date() if isinstance(value, datetime) else value
    return babel_dates.format_date(day, "medium", locale=language)


def format_datetime(value: datetime | None, language: str) -> str:
    """A moment as the language writes it, in UTC: ``Dec 5, 2026, 10:15 AM UTC``."""
    if value is None:
        return ""
    moment = _utc(value)
    pattern = Locale.parse(language).datetime_formats["medium"]
    time = babel_dates.format_time(moment, "short", tzinfo=UTC, locale=language)
    return str(pattern).format(time, format_date(moment, language)) + " UTC"


def date_example(language: str) -> str:
    """How the language types a day, shown beside a date field: its short format with
    the year in full, ``12/05/2026`` in English, ``05/12/2026`` in Italian."""
    return typed_text(date(2026, 12, 5), language)


def typed_text(day: date, language: str) -> str:
    """A day as it is typed in the language's date fields (``date_example``'s format), to
    fill a field in; ``parse_typed_date`` reads it back."""
    pattern = str(babel_dates.get_date_format("short", locale=language).pattern)
    pattern = re.sub(r"y+", "yyyy", re.sub(r"M+", "MM", re.sub(r"d+", "dd", pattern)))
    return babel_dates.format_date(day, pattern, locale=language)


def parse_typed_date(text: str, language: str) -> date | None:
    """A day as typed in the page's language (``05/12/2026`` in Italian, ``12/05/2026``
    in English), or ISO ``2026-12-05`` in any; None if it is not a date."""
    text = text.strip()
    if not text:
        return None
    if ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat("-".join(part.zfill(2) for part in text.split("-")))
        except ValueError:
            return None
    # Babel reads the day, month and year in the order of the language's short format.
    if len(re.findall(r"\d+", text)) != 3 or re.search(r"[^\d\s./-]", text):
        return None
    try:
        parsed = babel_dates.parse_date(text, locale=language, format="short")
    except (ValueError, IndexError):  # ParseError is a ValueError
        return None
    return parsed


def plural(count: int, language: str, **forms: str) -> str:
    """The form of a phrase for ``count`` by the language's CLDR plural rule (``one``,
    ``few``, ``many``, ``other``...; ``other`` where a form is not given), ``{count}``
    filled in: ``plural(2, "it", one="{count} ora", other="{count} ore")``."""
    category = Locale.parse(language).plural_form(abs(count))
    return forms.get(category, forms["other"]).format(count=count)
