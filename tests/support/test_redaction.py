"""The reply and note filters and the customer's redaction (support/redaction.py) catch
every spelling of a code or key that activation takes: Hypothesis writes codes and keys
the way people do (any case, O, I and L for 0 and 1, separators among " -._/" anywhere or
none) inside random text. Order numbers, request numbers and public IDs are never taken
for one, and the work grows linearly with the text."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from licensor.licensing import formats
from licensor.support.redaction import carries_code, carries_license_key, redact

CODE_DATA_SYMBOLS = formats.CODE_LENGTH - formats.CODE_CHECK_SYMBOLS
KEY_DATA_BYTES = formats.KEY_BYTES - formats.KEY_CHECK_BYTES
SEPARATORS = " -._/"
PUBLIC_ID = "LIC-7K3M-9QXT"

codes = st.lists(
    st.integers(min_value=0, max_value=31), min_size=CODE_DATA_SYMBOLS, max_size=CODE_DATA_SYMBOLS
).map(formats.code_from_data)
license_keys = st.binary(min_size=KEY_DATA_BYTES, max_size=KEY_DATA_BYTES).map(
    formats.license_key_from_data
)
# Text around the secret, and what stands between them: a separator or a character that
# is neither a symbol nor a separator (the secret is not glued to a word).
surroundings = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
boundaries = st.sampled_from([" ", "\n", ", ", ": ", " (", ") ", '"', "\t", "; ", "!"])
exhaustive = hypothesis_settings(deadline=None, max_examples=300)


@st.composite
def spellings(draw: st.DrawFn, canonical: str, aliases: dict[str, str]) -> str:
    """``canonical`` as someone might type or paste it."""
    out = []
    for index, symbol in enumerate(canonical):
        if index and draw(st.integers(0, 3)) == 0:
            out.append(draw(st.text(alphabet=SEPARATORS, min_size=1, max_size=3)))
        written = draw(st.sampled_from(aliases.get(symbol, symbol)))
        out.append(written.lower() if draw(st.booleans()) else written)
    return "".join(out)


CODE_ALIASES = {"0": "0O", "1": "1IL"}
KEY_ALIASES = {"0": "0O"}


@st.composite
def embedded(
    draw: st.DrawFn, secrets: st.SearchStrategy[str], aliases: dict[str, str]
) -> tuple[str, str, str]:
    canonical = draw(secrets)
    spelling = draw(spellings(canonical, aliases))
    text = draw(surroundings) + draw(boundaries) + spelling + draw(boundaries) + draw(surroundings)
    return canonical, spelling, text


def unknown(_: str) -> None:
    return None


def compact(text: str) -> str:
    """The text's letters and digits as normalisation reads them, all run together."""
    return "".join(char for char in text.upper() if char.isalnum()).translate(
        str.maketrans("OIL", "011")
    )


@exhaustive
@given(embedded(codes, CODE_ALIASES))
def test_any_spelling_of_a_code_that_activates_is_caught_and_masked(
    found: tuple[str, str, str],
) -> None:
    canonical, spelling, text = found
    if "/" not in spelling:  # what activation itself takes
        assert formats.normalize_code(spelling) == canonical
    assert carries_code(text)

    assert redact(spelling, unknown) == f"[{formats.mask_code(canonical)}]"
    redacted = redact(text, unknown)
    assert not carries_code(redacted)
    assert canonical not in compact(redacted)


@exhaustive
@given(embedded(license_keys, KEY_ALIASES))
def test_any_spelling_of_a_license_key_is_caught_and_replaced_by_its_public_id(
    found: tuple[str, str, str],
) -> None:
    canonical, spelling, text = found
    if "/" not in spelling:
        assert formats.normalize_license_key(spelling) == canonical
    assert carries_license_key(text)

    named = redact(text, lambda key: PUBLIC_ID if key == canonical else None)
    assert f"[{PUBLIC_ID}]" in named
    assert not carries_license_key(named)
    assert redact(spelling, unknown) == f"[{formats.mask_license_key(canonical)}]"
    masked = redact(text, unknown)
    assert not carries_license_key(masked)
    assert not carries_code(masked)
    assert canonical not in compact(masked)


@exhaustive
@given(st.lists(st.sampled_from(["ORD", "SUP", "LIC"]), min_size=1, max_size=30), st.data())
def test_order_request_and_license_numbers_are_never_taken_for_a_code_or_key(
    prefixes: list[str], data: st.DataObject
) -> None:
    numbers = [formats.readable_number(prefix) for prefix in prefixes]
    joins = st.sampled_from([" ", ", ", "\n", " - ", "/", ".", "; ", " and "])
    text = numbers[0]
    for number in numbers[1:]:
        text += data.draw(joins) + number
    for written in (text, text.lower()):
        assert not carries_code(written)
        assert not carries_license_key(written)
        assert redact(written, unknown) == written


def test_what_agents_write_about_orders_requests_and_licenses_is_left_alone() -> None:
    notes = [
        "Order ORD-7K3M-9QXT, request SUP-7K3M-9QXT, license LIC-7K3M-9QXT: checked.",
        "Customer sent ORD-0000-0000 and ORD-1111-1111 then SUP-ABCD-EFGH.",
        "Public IDs LIC-0000-0000 LIC-1111-1111 LIC-2222-2222 LIC-3333-3333 LIC-4444-4444",
        "The customer sounded unsure; check the order date and the name on the card.",
        "Masked already: [XXXXX-XXXXX-XXXXX-7K3MQ] and [XXXX XXXX XXXX XXXX XXXX XXXX XXXX 0A1B]",
    ]
    for note in notes:
        assert not carries_code(note), note
        assert not carries_license_key(note), note


def test_spellings_once_missed_are_caught() -> None:
    code = formats.generate_code()
    grouped = formats.format_code(code)
    key = formats.generate_license_key()
    for spelling in (
        grouped.replace("-", "."),
        grouped.replace("-", " - "),
        f"{code[:5]}-{code[5:10]} {code[10:15]}.{code[15:]}",
        code.lower(),
        " ".join(code),
        code.replace("0", "O").replace("1", "l"),
        grouped.replace("-", "/"),
    ):
        assert carries_code(f"Here it is: {spelling}."), spelling
    for spelling in (key.lower(), "-".join(key[i : i + 4] for i in range(0, 32, 4)), " ".join(key)):
        assert carries_license_key(f"key={spelling}"), spelling


@pytest.mark.parametrize(
    ("text", "holds_one"),
    [
        ("0 " * 2_500, True),  # every window of both sizes passes the check
        ("0-" * 2_500, True),
        ("A" * 5_000, False),
        ("".join(string.ascii_letters[i % 52] + " ."[i % 2] for i in range(2_500)), False),
    ],
)
def test_a_long_message_is_read_in_linear_work(
    text: str, holds_one: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert carries_code(text) is holds_one
    checked = {"code": 0, "key": 0}
    real_code, real_key = formats.normalize_code, formats.normalize_license_key

    def counting_code(value: str) -> str:
        checked["code"] += 1
        return real_code(value)

    def counting_key(value: str) -> str:
        checked["key"] += 1
        return real_key(value)

    monkeypatch.setattr(formats, "normalize_code", counting_code)
    monkeypatch.setattr(formats, "normalize_license_key", counting_key)
    redacted = redact(text, unknown)
    tokens = len(re.findall("[0-9A-Za-z]+", text))
    # At most one window of each size starts at each token.
    assert checked["code"] <= max(tokens, 1)
    assert checked["key"] <= max(tokens, 1)
    assert len(redacted) <= 2 * len(text)
    assert not carries_code(redacted)
