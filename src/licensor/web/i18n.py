"""English and Italian for pages: gettext catalogs (.po) read at start, no compile step.

English strings are the message ids; ``locale/it/LC_MESSAGES/messages.po`` translates
them. ``scripts/extract_messages.py`` collects the ids from templates and code into the
catalog; ``tests/web/test_i18n.py`` fails when a page string has no Italian translation.

Plurals follow the catalog's ``Plural-Forms`` (Babel gives the language's CLDR rule when a
catalog has none), so a language with three forms needs a catalog, not code. Dates are
shown and read in the page's language with Babel (licensor/dates.py; ``typed_date``).
"""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from starlette.requests import Request

from licensor import dates

LANGUAGES = {"en": "English", "it": "Italiano"}
DEFAULT = "en"
LANGUAGE_COOKIE = "licensor_lang"
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:
    """Mark a string for the catalog without translating it yet (e.g. a table of messages).

    Translate it where it is shown, with ``unit._(value)``.
    """
    return message


# Plans' entitlements are machine names the vendor chose (``password-manager``); pages show
# the usual ones by these labels, translated, and any other as its words.
ENTITLEMENT_LABELS = {
    "antivirus": N_("Antivirus"),
    "firewall": N_("Firewall"),
    "vpn": N_("VPN"),
    "password-manager": N_("Password manager"),
    "parental-control": N_("Parental control"),
    "backup": N_("Backup"),
    "anti-theft": N_("Anti-theft"),
}


def entitlement_label(name: str, language: str) -> str:
    """How a page names an entitlement: ``vpn`` is "VPN", ``password-manager`` "Gestore
    delle password" in Italian; an unknown ``cloud-sync`` is "Cloud sync"."""
    label = ENTITLEMENT_LABELS.get(name)
    if label is not None:
        return translator(language).gettext(label)
    words = name.replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def plural_rule(expression: str) -> Callable[[int], int]:
    """The form index a gettext ``plural=`` expression picks for a count."""
    return stdlib_gettext.c2py(expression)


class Translator:
    """One language's messages, and its rule for which plural form a count takes."""

    def __init__(
        self,
        language: str,
        messages: dict[str, str],
        plurals: dict[str, tuple[str, ...]] | None = None,
        plural_expression: str | None = None,
    ) -> None:
        self.language = language
        self._messages = messages
        self._plurals = plurals or {}
        self._form = plural_rule(plural_expression or get_plural(language).plural_expr)
        self._english_form = plural_rule(get_plural(DEFAULT).plural_expr)

    def gettext(self, message: str) -> str:
        return self._messages.get(message) or message

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """The form of ``singular``/``plural`` this language uses for ``count``; English
        (one, other) where the catalog has no translation of that form."""
        forms = self._plurals.get(singular, ())
        index = self._form(abs(count))
        if index < len(forms) and forms[index]:
            return forms[index]
        return singular if self._english_form(abs(count)) == 0 else plural


@lru_cache
def translator(language: str) -> Translator:
    """The pages' translator for ``language`` (English, the ids, for any other)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not path.exists():
        return Translator(DEFAULT, {})
    return read_translator(path, language)


def read_translator(path: Path, language: str) -> Translator:
    """A translator from the catalog at ``path``, with that catalog's plural rule."""
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, str):
            if message.string:
                messages[message.id] = str(message.string)
        else:  # ngettext: keyed by the singular id, one string per form of the catalog
            plurals[message.id[0]] = tuple(str(form or "") for form in message.string or ())
            # The singular asked with gettext elsewhere is the same id: its first form, as
            # GNU gettext answers it.
            if message.string and message.string[0]:
                messages.setdefault(message.id[0], str(message.string[0]))
    return Translator(language, messages, plurals, catalog.plural_expr)


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


# Dates in the page's language live in the core (mail says them too): licensor/dates.py.
format_date = dates.format_date
format_datetime = dates.format_datetime
date_example = dates.date_example
parse_typed_date = dates.parse_typed_date


def typed_date(text: str, language: str) -> str:
    """A date field's value for the services, which read ISO: the day typed in the page's
    language as ``YYYY-MM-DD``, or the text as it came when it is no date (the service
    then says so beside the field)."""
    parsed = parse_typed_date(text, language)
    return parsed.isoformat() if parsed is not None else text
