"""English and Italian for pages: gettext catalogs (.po) read at start, no compile step.

English strings are the message ids; ``locale/it/LC_MESSAGES/messages.po`` translates
them. ``scripts/extract_messages.py`` collects the ids from templates and code into the
catalog; ``tests/web/test_i18n.py`` fails when a page string has no Italian translation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po
from starlette.requests import Request

LANGUAGES = {"en": "English", "it": "Italiano"}
DEFAULT = "en"
LANGUAGE_COOKIE = "licensor_lang"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Mark a string for the catalog without translating it yet (e.g. a table of messages).

    Translate it where it is shown, with ``unit._(value)``.
    """
    return message


class Translator:
    def __init__(self, language: str, messages: dict[str, str]) -> None:
        self.language = language
        self._messages = messages

    def gettext(self, message: str) -> str:
        return self._messages.get(message) or message

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        # Italian has English's plural rule (one, other), so each form maps to one string.
        return self.gettext(singular if count == 1 else plural)


@lru_cache
def translator(language: str) -> Translator:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not path.exists():
        return Translator(DEFAULT, {})
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    messages: dict[str, str] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, str):
            messages[message.id] = str(message.string or "")
        else:  # ngettext: (singular, plural) -> (one, other)
            messages.update(zip(message.id, message.string or (), strict=False))
    return Translator(language, {key: value for key, value in messages.items() if value})


def negotiate(request: Request, account_language: str | None = None) -> str:
    """?lang= beats the cookie, which beats the account, which beats Accept-Language."""
    for candidate in (
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_COOKIE),
        account_language,
    ):
        if candidate in LANGUAGES:
            return candidate
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT
