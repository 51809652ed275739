"""Every string the app shows has its Italian, with the same placeholders; the names the
Italian help articles use are exactly those."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

import licensor_app
from licensor_app.i18n import (
    ITALIAN,
    Translator,
    format_date,
    language_from_environment,
    translate,
)

SOURCE = Path(licensor_app.__file__).parent


def strings_the_app_uses() -> dict[str, str]:
    """Each literal passed to ``_()`` (a function or a method) or ``N_()``, and where.
    ``_()`` of a variable is fine: it shows a string marked ``N_()`` where it is written."""
    found: dict[str, str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            function = node.func
            name = (
                function.id
                if isinstance(function, ast.Name)
                else function.attr
                if isinstance(function, ast.Attribute)
                else None
            )
            first = node.args[0]
            literal = first.value if isinstance(first, ast.Constant) else None
            if name == "N_":
                assert isinstance(literal, str), f"{path}:{node.lineno}: N_() marks a literal"
            if name in ("_", "N_") and isinstance(literal, str):
                found.setdefault(literal, f"{path.name}:{node.lineno}")
    return found


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_every_string_the_app_uses_has_an_italian_translation() -> None:
    used = strings_the_app_uses()
    missing = {text: where for text, where in used.items() if not ITALIAN.get(text)}
    assert not missing, f"no Italian for: {missing}"
    assert len(used) > 80  # the scan found the windows' strings, not nothing


def test_the_catalog_holds_no_string_the_app_no_longer_uses() -> None:
    assert set(ITALIAN) - set(strings_the_app_uses()) == set()


@pytest.mark.parametrize("english", sorted(ITALIAN))
def test_a_translation_keeps_every_placeholder(english: str) -> None:
    assert placeholders(ITALIAN[english]) == placeholders(english)


@pytest.mark.parametrize(
    ("english", "italian"),
    [
        ("License", "Licenza"),
        ("Licensing", "Gestione della licenza"),
        ("Enter activation code", "Inserisci il codice di attivazione"),
        ("Show details", "Mostra dettagli"),
        ("License details", "Dettagli licenza"),
        ("Recover my activation codes", "Recupera i miei codici di attivazione"),
        ("Remove license from this device", "Rimuovi la licenza da questo dispositivo"),
        ("Save license backup", "Salva un backup della licenza"),
        ("Restore license", "Ripristina la licenza"),
        ("Connect to My Account", "Collegati al tuo account"),
        ("Save screenshot", "Salva screenshot"),
        ("Sign in", "Accedi"),
        ("Copy", "Copia"),
        ("License key", "Chiave di licenza"),
        ("Public ID", "ID pubblico"),
    ],
)
def test_the_names_in_the_help_articles(english: str, italian: str) -> None:
    assert translate(english, "it") == italian
    assert translate(english, "en") == english


def test_italian_uses_the_customers_words() -> None:
    italian = " ".join(ITALIAN.values())
    for word in ("codice di attivazione", "chiave di licenza", "Licenze", "Il mio account"):
        assert word in italian
    assert "My Account" not in italian  # the Italian name is "Il mio account"
    for formal in (" Lei ", " Suo ", " La preghiamo"):  # "tu", not "Lei"
        assert formal not in italian


def test_values_go_into_the_translated_sentence() -> None:
    _ = Translator("it")
    assert _("{used} of {allowed}", used=1, allowed=3) == "1 di 3"
    with pytest.raises(ValueError, match="language"):
        Translator("de")


@pytest.mark.parametrize(
    ("environment", "language"),
    [
        ({"LANG": "it_IT.UTF-8"}, "it"),
        ({"LANG": "it_IT.UTF-8", "LC_ALL": "en_GB.UTF-8"}, "en"),
        ({"LC_MESSAGES": "it_CH"}, "it"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_follows_the_session(environment: dict[str, str], language: str) -> None:
    assert language_from_environment(environment) == language


def test_dates_cannot_be_misread() -> None:
    from datetime import date

    assert format_date(date(2027, 3, 1), "en") == "1 March 2027"
    assert format_date(date(2027, 3, 1), "it") == "1 marzo 2027"
