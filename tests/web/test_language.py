"""Plurals, dates and words in the page's language (issue 14, item 9).

Plurals follow the catalog's plural rule (a language with three forms needs a catalog,
not code); dates are shown as the language writes them and typed as it types them; the
Italian catalog says "nel tuo account", never "in Il mio account", and leaves no English
word behind.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Page, expect

from licensor.dates import format_date, format_datetime, parse_typed_date, plural
from licensor.mail.outbox import render
from licensor.web import i18n
from licensor.web.pages import language_environment
from tests.accounts.factories import PASSWORD, LinkCode, MakeAccount
from tests.conftest import OpenUnit
from tests.licensing.factories import MakePlan
from tests.mail_support import SmtpServer
from tests.store.factories import MakeOrder
from tests.support import wait_until
from tests.web.conftest import sign_in

CATALOG = i18n.LOCALE_DIR / "it" / "LC_MESSAGES" / "messages.po"

# --- plurals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "one", "two"),
    [
        ("en", "1 device", "2 devices"),
        ("it", "1 dispositivo", "2 dispositivi"),
    ],
)
def test_ngettext_gives_each_count_its_form_in_english_and_italian(
    language: str, one: str, two: str
) -> None:
    translator = i18n.translator(language)
    for count, expected in ((1, one), (2, two)):
        form = translator.ngettext("{count} device", "{count} devices", count)
        assert form.format(count=count) == expected


def test_ngettext_follows_the_catalogs_plural_rule_not_english_one_and_other(
    tmp_path: Path,
) -> None:
    # Polish has three forms: 1 plik, 2-4 pliki, 5+ plików (and 22 pliki again).
    catalog = tmp_path / "messages.po"
    catalog.write_text(
        'msgid ""\nmsgstr ""\n'
        '"Content-Type: text/plain; charset=utf-8\\n"\n'
        '"Plural-Forms: nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && '
        '(n%100<10 || n%100>=20) ? 1 : 2);\\n"\n\n'
        'msgid "{count} file"\nmsgid_plural "{count} files"\n'
        'msgstr[0] "{count} plik"\nmsgstr[1] "{count} pliki"\nmsgstr[2] "{count} plików"\n',
        encoding="utf-8",
    )
    translator = i18n.read_translator(catalog, "pl")
    said = {n: translator.ngettext("{count} file", "{count} files", n) for n in (1, 2, 5, 22)}
    assert said == {1: "{count} plik", 2: "{count} pliki", 5: "{count} plików", 22: "{count} pliki"}


def test_mail_plurals_follow_the_languages_rule() -> None:
    forms = {"one": "un'ora", "other": "{count} ore"}
    assert [plural(count, "it", **forms) for count in (1, 2)] == ["un'ora", "2 ore"]
    _, text, _ = render(
        "reset_password", "it", {"product": "Licensor", "link": "http://x/", "hours": 1}
    )
    assert "valido per un'ora" in text
    assert "ora/e" not in text
    _, text, _ = render(
        "reset_password", "en", {"product": "Licensor", "link": "http://x/", "hours": 2}
    )
    assert "works for 2 hours" in text
    assert "(s)" not in text


def test_the_store_says_one_device_and_two_devices_and_names_entitlements_in_italian(
    page: Page, make_plan: MakePlan, open_unit: OpenUnit
) -> None:
    make_plan("solo", devices_max=1, term_days=365, price_cents=1000)
    with open_unit() as unit:
        unit.plans.create(
            code="duo",
            name="Duo",
            term_days=730,
            devices_max=2,
            entitlements=["vpn", "password-manager"],
            price_cents=2000,
        )
    page.goto("/store?lang=en")
    solo = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Solo"))
    duo = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Duo"))
    expect(solo.first).to_contain_text("1 device")
    expect(solo.first).to_contain_text("1 year")
    expect(duo.first).to_contain_text("2 devices")
    expect(duo.first).to_contain_text("2 years")
    expect(duo.first).to_contain_text("VPN")
    expect(duo.first).to_contain_text("Password manager")
    page.goto("/store?lang=it")
    expect(solo.first).to_contain_text("1 dispositivo")
    expect(solo.first).to_contain_text("1 anno")
    expect(duo.first).to_contain_text("2 dispositivi")
    expect(duo.first).to_contain_text("2 anni")
    expect(duo.first).to_contain_text("Gestore delle password")
    assert "Vpn" not in page.locator("main").inner_text()


def test_each_language_keeps_its_words_once_both_are_in_use() -> None:
    # Jinja's overlays share their parent's globals and filters unless given their own:
    # the language made last would then speak on every page and in every mail.
    italian, english = language_environment("it"), language_environment("en")
    page = (
        '{{ _("Licenses") }} {{ day|date }} '
        '{{ ngettext("{count} day", "{count} days", 2).format(count=2) }}'
    )
    day = date(2026, 12, 5)
    assert italian.from_string(page).render(day=day) == "Licenze 5 dic 2026 2 giorni"
    assert english.from_string(page).render(day=day) == "Licenses Dec 5, 2026 2 days"
    context = {"product": "Licensor", "link": "http://x/", "hours": 2}
    assert "2 ore" in render("reset_password", "it", context)[1]
    assert "2 hours" in render("reset_password", "en", context)[1]


# --- dates ------------------------------------------------------------------------------------


def test_dates_are_written_as_each_language_writes_them() -> None:
    moment = datetime(2026, 12, 5, 10, 15, tzinfo=UTC)
    assert format_date(moment, "en") == "Dec 5, 2026"
    assert format_date(moment, "it") == "5 dic 2026"
    assert format_datetime(moment, "it") == "5 dic 2026, 10:15 UTC"
    assert (
        format_datetime(moment.replace(tzinfo=None), "en") == "Dec 5, 2026, 10:15\u202fAM UTC"
    )  # CLDR: a narrow space


@pytest.mark.parametrize(
    ("typed", "language", "day"),
    [
        ("05/12/2026", "it", date(2026, 12, 5)),
        ("5.12.2026", "it", date(2026, 12, 5)),
        ("12/05/2026", "en", date(2026, 12, 5)),
        ("2026-12-05", "it", date(2026, 12, 5)),
        ("2026-12-05", "en", date(2026, 12, 5)),
        ("31/02/2026", "it", None),
        ("13/13/2026", "en", None),
        ("yesterday", "en", None),
        ("5/12", "it", None),
    ],
)
def test_a_typed_date_is_read_in_the_pages_language_or_as_iso(
    typed: str, language: str, day: date | None
) -> None:
    assert parse_typed_date(typed, language) == day


def test_an_italian_customer_sees_the_expiry_in_italian(
    italian_page: Page, make_account: MakeAccount, linked_code: LinkCode, api: httpx.Client
) -> None:
    customer = make_account(language="it")
    linked = linked_code(customer)
    italian_page.goto("/sign-in")
    italian_page.get_by_label("Indirizzo email").fill(customer.email)
    italian_page.get_by_label("Password", exact=True).fill(PASSWORD)
    italian_page.locator("main").get_by_role("button", name="Accedi", exact=True).click()
    expect(italian_page).to_have_url(re.compile(r"/account/licenses$"))
    card = italian_page.locator("li").filter(has_text=linked.code)
    expiry = card.locator("time")
    expect(expiry).to_have_text(re.compile(r"^\d{1,2} [a-z]{3} \d{4}$"))
    moment = datetime.fromisoformat(str(expiry.get_attribute("datetime")))
    expect(expiry).to_have_text(format_date(moment, "it"))


def test_an_english_customer_sees_the_expiry_in_english(
    page: Page, make_account: MakeAccount, linked_code: LinkCode
) -> None:
    customer = make_account(language="en")
    linked = linked_code(customer)
    sign_in(page, customer.email, PASSWORD)
    expiry = page.locator("li").filter(has_text=linked.code).locator("time")
    expect(expiry).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}$"))


def test_the_order_lookup_takes_the_date_as_an_italian_types_it(
    italian_page: Page, make_order: MakeOrder, mail_worker: SmtpServer
) -> None:
    order = make_order(name="Mario Rossi")
    page = italian_page
    page.goto("/orders/lookup")
    page.get_by_role("group", name="Dove hai effettuato l'acquisto?").get_by_label(
        "Nel nostro negozio online"
    ).check()
    page.get_by_label("Numero d'ordine").fill(order.number)
    expect(page.get_by_text("Ad esempio 05/12/2026")).to_be_visible()

    page.get_by_label("Data dell'acquisto").fill("31/31/2026")
    page.get_by_label("Nome usato per l'acquisto").fill("Mario Rossi")
    page.get_by_label("Indirizzo email usato per l'acquisto").fill(order.email)
    page.get_by_role("button", name="Inviami di nuovo l'ordine").click()
    expect(page.locator("#purchased_on-error")).to_have_text(
        "Inserisci una data come 05/12/2026 (giorno/mese/anno) o 2026-12-05."
    )

    page.get_by_label("Data dell'acquisto").fill(order.purchased_at.strftime("%d/%m/%Y"))
    page.get_by_role("button", name="Inviami di nuovo l'ordine").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Controlla la tua casella di posta")

    # Matched: the order's confirmation arrives a second time, so the date was read right
    # (a lookup matches only within a day of the purchase).
    def delivered() -> int:
        return sum(str(mail["To"]) == order.email for mail in mail_worker.inbox.messages)

    wait_until(lambda: delivered() == 2, "the order mailed again")


# --- the Italian catalog, as a native speaker reads it ---------------------------------------

PREPOSITION_BEFORE_NAME = re.compile(
    r"\b(in|a|da|di|su|per|con|tra|fra)\s+Il mio account\b", re.IGNORECASE
)
# English left in Italian strings: words no Italian sentence uses, or the English of words
# Italian has its own for (customers say "negozio", "gestore delle password").
ENGLISH_WORDS = re.compile(
    r"\b(the|and|your|please|click|sign in|settings|store|license|licenses|device|devices|"
    r"order|orders|password manager|vpn|seat|seats|subscription|renewal)\b",
    re.IGNORECASE,
)
KEPT_IN_ITALIAN = re.compile(r"\bVPN\b")  # the same word in Italian, in capitals


def _italian_strings() -> list[tuple[str, str]]:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="it")
    found = []
    for message in catalog:
        if not message.id or not message.string or message.fuzzy:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        for message_id, string in zip(ids, strings, strict=False):
            # Placeholders ({device}) and what is quoted as code are not words of the sentence.
            found.append((message_id, re.sub(r"\{[^{}]*\}|<[^>]*>", "", string)))
    return found


def test_the_catalog_never_puts_il_mio_account_after_a_preposition() -> None:
    wrong = [pair for pair in _italian_strings() if PREPOSITION_BEFORE_NAME.search(pair[1])]
    assert not wrong, "say 'nel tuo account', 'nella sezione Il mio account':\n" + "\n".join(
        f"  {message_id!r}: {string!r}" for message_id, string in wrong
    )


def test_the_catalog_leaves_no_english_word_in_italian() -> None:
    wrong = [
        (message_id, string)
        for message_id, string in _italian_strings()
        if ENGLISH_WORDS.search(KEPT_IN_ITALIAN.sub("", string))
    ]
    assert not wrong, "English left in Italian:\n" + "\n".join(
        f"  {message_id!r}: {string!r}" for message_id, string in wrong
    )
