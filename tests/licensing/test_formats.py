"""Activation codes, license keys and public license IDs (licensor.licensing.formats).

The check values are proven exhaustively per value: for each code or key Hypothesis
builds, every single-symbol substitution and every adjacent transposition is tried.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from licensor.licensing import formats
from licensor.licensing.formats import (
    CROCKFORD,
    MalformedError,
    code_from_data,
    format_code,
    format_license_key,
    generate_code,
    generate_license_key,
    generate_public_id,
    license_key_from_data,
    normalize_code,
    normalize_license_key,
    parse_secret,
)

HEX_DIGITS = "0123456789ABCDEF"
CODE_DATA_SYMBOLS = formats.CODE_LENGTH - formats.CODE_CHECK_SYMBOLS
KEY_DATA_BYTES = formats.KEY_BYTES - formats.KEY_CHECK_BYTES

code_data = st.lists(
    st.integers(min_value=0, max_value=31), min_size=CODE_DATA_SYMBOLS, max_size=CODE_DATA_SYMBOLS
)
key_data = st.binary(min_size=KEY_DATA_BYTES, max_size=KEY_DATA_BYTES)
codes = code_data.map(code_from_data)
license_keys = key_data.map(license_key_from_data)
# Each example below runs hundreds of checks; timing is not what is tested.
exhaustive = hypothesis_settings(deadline=None)

FORMATTED_CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$")
CANONICAL_KEY = re.compile(r"^[0-9A-F]{32}$")


def substitutions(canonical: str, alphabet: str) -> list[str]:
    """Every string that differs from ``canonical`` in exactly one symbol of ``alphabet``."""
    return [
        canonical[:position] + symbol + canonical[position + 1 :]
        for position, original in enumerate(canonical)
        for symbol in alphabet
        if symbol != original
    ]


def transpositions(canonical: str) -> list[str]:
    """Every string made by swapping two neighbouring, different symbols."""
    return [
        canonical[:position]
        + canonical[position + 1]
        + canonical[position]
        + canonical[position + 2 :]
        for position in range(len(canonical) - 1)
        if canonical[position] != canonical[position + 1]
    ]


def assert_code_rejected(text: str) -> None:
    with pytest.raises(MalformedError):
        normalize_code(text)
    assert not formats.is_valid_code(text)


def assert_key_rejected(text: str) -> None:
    with pytest.raises(MalformedError):
        normalize_license_key(text)
    assert not formats.is_valid_license_key(text)


# --- activation codes: shape and round trips ------------------------------------------------


def test_a_generated_code_is_twenty_crockford_symbols_in_four_groups() -> None:
    canonical = generate_code()
    assert len(canonical) == 20
    assert set(canonical) <= set(CROCKFORD)
    assert FORMATTED_CODE.match(format_code(canonical))


def test_the_crockford_alphabet_leaves_out_the_ambiguous_letters() -> None:
    assert len(CROCKFORD) == 32
    assert not set("ILOU") & set(CROCKFORD)


@given(codes)
def test_a_code_survives_format_and_normalize(canonical: str) -> None:
    formatted = format_code(canonical)
    assert FORMATTED_CODE.match(formatted)
    assert normalize_code(formatted) == canonical
    assert normalize_code(canonical) == canonical


def test_generated_codes_round_trip() -> None:
    for _ in range(200):
        canonical = generate_code()
        assert normalize_code(format_code(canonical)) == canonical


@given(code_data)
def test_any_eighteen_data_symbols_make_a_valid_code_that_carries_them(data: list[int]) -> None:
    canonical = code_from_data(data)
    assert [CROCKFORD.index(symbol) for symbol in canonical[:CODE_DATA_SYMBOLS]] == data
    assert formats.is_valid_code(canonical)


@pytest.mark.parametrize(
    "data", [[], [0] * 17, [0] * 19, [32] + [0] * 17, [-1] + [0] * 17], ids=repr
)
def test_code_from_data_refuses_data_of_the_wrong_shape(data: list[int]) -> None:
    with pytest.raises(ValueError, match="18 symbols"):
        code_from_data(data)


# --- activation codes: normalisation --------------------------------------------------------


@given(codes)
def test_a_code_typed_in_lower_case_is_accepted(canonical: str) -> None:
    assert normalize_code(format_code(canonical).lower()) == canonical


@given(codes, st.lists(st.sampled_from([" ", "-", "  ", " - ", "\t"]), min_size=21, max_size=21))
def test_spaces_and_hyphens_anywhere_in_a_code_are_ignored(
    canonical: str, separators: list[str]
) -> None:
    typed = separators[0] + "".join(
        symbol + separator for symbol, separator in zip(canonical, separators[1:], strict=True)
    )
    assert normalize_code(typed) == canonical


@given(code_data, st.data())
def test_o_is_read_as_zero_and_i_or_l_as_one(data: list[int], draw: st.DataObject) -> None:
    # Force some zeros and ones into the code so the aliases have something to stand for.
    data = [0, 1, *data[2:]]
    canonical = code_from_data(data)
    typed = "".join(
        "O" if symbol == "0" else draw.draw(st.sampled_from("IiLl")) if symbol == "1" else symbol
        for symbol in canonical
    )
    assert typed != canonical
    assert normalize_code(typed) == canonical
    assert normalize_code(typed.lower()) == canonical


def test_a_known_code_with_every_alias_normalises() -> None:
    canonical = code_from_data([0, 1] * 9)
    typed = format_code(canonical).replace("0", "o").replace("1", "l").lower()
    assert normalize_code(f"  {typed}  ") == canonical


# --- activation codes: the check value --------------------------------------------------------


@exhaustive
@given(codes)
def test_every_single_symbol_substitution_in_a_code_is_rejected(canonical: str) -> None:
    typos = substitutions(canonical, CROCKFORD)
    assert len(typos) == 20 * 31
    for typo in typos:
        assert_code_rejected(typo)


@exhaustive
@given(codes)
def test_every_adjacent_transposition_in_a_code_is_rejected(canonical: str) -> None:
    for swapped in transpositions(canonical):
        assert_code_rejected(swapped)
        assert_code_rejected(format_code(swapped))


def test_a_code_with_two_equal_neighbours_swapped_is_the_same_code() -> None:
    # The one "transposition" the check cannot see is the one that changes nothing.
    canonical = code_from_data([7] * 18)
    assert canonical[0] == canonical[1]
    assert normalize_code(canonical[1] + canonical[0] + canonical[2:]) == canonical


def test_generated_codes_reject_every_typo() -> None:
    for _ in range(20):
        canonical = generate_code()
        for typo in substitutions(canonical, CROCKFORD) + transpositions(canonical):
            assert_code_rejected(typo)


@given(codes)
def test_a_code_one_symbol_short_or_long_is_rejected(canonical: str) -> None:
    for wrong_length in (canonical[:-1], canonical[1:], canonical + "0", "0" + canonical):
        with pytest.raises(MalformedError, match="20 symbols"):
            normalize_code(wrong_length)


@pytest.mark.parametrize("text", ["", "-----", "ABCDE-FGHJK-MNPQR", "X" * 40])
def test_text_of_the_wrong_length_is_not_a_code(text: str) -> None:
    assert_code_rejected(text)


@given(codes, st.integers(min_value=0, max_value=19), st.sampled_from("Uu*#/Ä!é"))
def test_a_symbol_outside_the_alphabet_is_rejected(
    canonical: str, position: int, symbol: str
) -> None:
    typed = canonical[:position] + symbol + canonical[position + 1 :]
    with pytest.raises(MalformedError, match="not used in activation codes"):
        normalize_code(typed)


def test_u_is_never_read_as_v() -> None:
    canonical = code_from_data([27] * 18)  # 27 is "V"
    assert canonical.startswith("V")
    assert_code_rejected("U" + canonical[1:])


# --- activation codes: randomness -----------------------------------------------------------


def test_a_code_carries_at_least_eighty_random_bits() -> None:
    # 18 free symbols of 5 bits each (the rest is the check value) ...
    assert CODE_DATA_SYMBOLS * 5 >= 80
    # ... and generation really draws every one of them: over 3,000 codes, each data
    # position takes all 32 values (a fixed or biased position would not).
    samples = [generate_code() for _ in range(3000)]
    assert len(set(samples)) == len(samples)
    for position in range(CODE_DATA_SYMBOLS):
        seen = Counter(code[position] for code in samples)
        assert set(seen) == set(CROCKFORD), f"position {position} is not uniformly random"
        assert max(seen.values()) < 3 * 3000 / 32


def test_the_masked_code_shows_only_its_last_group() -> None:
    canonical = generate_code()
    masked = formats.mask_code(canonical)
    assert masked.endswith(canonical[-5:])
    assert canonical[:15] not in masked.replace("-", "")


# --- license keys -----------------------------------------------------------------------------


def test_a_generated_license_key_is_thirty_two_hex_digits() -> None:
    key = generate_license_key()
    assert CANONICAL_KEY.match(key)
    assert re.fullmatch(r"([0-9A-F]{4} ){7}[0-9A-F]{4}", format_license_key(key))


@given(key_data)
def test_a_license_key_survives_format_and_normalize(data: bytes) -> None:
    key = license_key_from_data(data)
    assert CANONICAL_KEY.match(key)
    assert key.startswith(data.hex().upper())
    formatted = format_license_key(key)
    assert normalize_license_key(formatted) == key
    assert normalize_license_key(formatted.lower()) == key
    assert normalize_license_key(formatted.replace(" ", "-")) == key
    assert normalize_license_key(formatted.replace(" ", "")) == key


@given(license_keys, st.lists(st.sampled_from(["", " ", "-", "  "]), min_size=32, max_size=32))
def test_a_license_key_grouped_any_way_is_accepted(key: str, separators: list[str]) -> None:
    typed = "".join(digit + sep for digit, sep in zip(key, separators, strict=True))
    assert normalize_license_key(typed) == key


def test_a_license_key_read_with_the_letter_o_for_zero_is_accepted() -> None:
    key = license_key_from_data(bytes(13))
    assert key.startswith("0" * 26)
    assert normalize_license_key(key.replace("0", "O")) == key
    assert normalize_license_key(key.replace("0", "o")) == key


def test_generated_license_keys_round_trip() -> None:
    for _ in range(200):
        key = generate_license_key()
        assert normalize_license_key(format_license_key(key)) == key


@exhaustive
@given(license_keys)
def test_every_single_digit_substitution_in_a_license_key_is_rejected(key: str) -> None:
    typos = substitutions(key, HEX_DIGITS)
    assert len(typos) == 32 * 15
    for typo in typos:
        assert_key_rejected(typo)


@exhaustive
@given(license_keys)
def test_every_adjacent_transposition_in_a_license_key_is_rejected(key: str) -> None:
    for swapped in transpositions(key):
        assert_key_rejected(swapped)
        assert_key_rejected(format_license_key(swapped))


@exhaustive
@given(license_keys, st.data())
def test_up_to_three_wrong_bytes_in_a_license_key_are_rejected(
    key: str, draw: st.DataObject
) -> None:
    raw = bytearray.fromhex(key)
    positions = draw.draw(
        st.lists(st.integers(0, 15), min_size=1, max_size=3, unique=True), label="positions"
    )
    for position in positions:
        raw[position] ^= draw.draw(st.integers(1, 255), label=f"error at {position}")
    assert_key_rejected(raw.hex())


@given(license_keys)
def test_a_license_key_one_digit_short_or_long_is_rejected(key: str) -> None:
    for wrong_length in (key[:-1], key[1:], key + "0", "0" + key, key[:-2], key + "00"):
        with pytest.raises(MalformedError, match="32 hexadecimal digits"):
            normalize_license_key(wrong_length)


@given(license_keys, st.integers(min_value=0, max_value=31), st.sampled_from("GgZz*+é"))
def test_a_digit_outside_hexadecimal_is_rejected(key: str, position: int, digit: str) -> None:
    typed = key[:position] + digit + key[position + 1 :]
    with pytest.raises(MalformedError, match="0-9 and A-F"):
        normalize_license_key(typed)


def test_a_license_key_carries_at_least_eighty_random_bits() -> None:
    assert KEY_DATA_BYTES * 8 >= 80
    samples = [bytes.fromhex(generate_license_key()) for _ in range(3000)]
    assert len(set(samples)) == len(samples)
    for position in range(KEY_DATA_BYTES):
        # 3,000 uniform draws of a byte leave on average 2.1 of 256 values unseen.
        assert len({key[position] for key in samples}) > 240, f"byte {position} is not random"


def test_license_key_from_data_refuses_the_wrong_number_of_bytes() -> None:
    for data in (b"", bytes(12), bytes(14), bytes(16)):
        with pytest.raises(ValueError, match="13 bytes"):
            license_key_from_data(data)


def test_the_masked_license_key_shows_only_its_last_group() -> None:
    key = generate_license_key()
    masked = formats.mask_license_key(key)
    assert masked.endswith(key[-4:])
    assert key[:28] not in masked.replace(" ", "")


# --- public license IDs ----------------------------------------------------------------------


def test_a_public_id_is_lic_and_two_groups_of_four_crockford_symbols() -> None:
    for _ in range(200):
        public_id = generate_public_id()
        assert re.fullmatch(r"LIC-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", public_id)


def test_public_ids_are_random() -> None:
    assert len({generate_public_id() for _ in range(1000)}) == 1000


def test_a_public_id_is_neither_a_code_nor_a_license_key() -> None:
    public_id = generate_public_id()
    assert parse_secret(public_id) is None
    assert not formats.is_valid_code(public_id)
    assert not formats.is_valid_license_key(public_id)


# --- telling a code from a key ---------------------------------------------------------------


@given(codes)
def test_parse_secret_recognises_an_activation_code(canonical: str) -> None:
    for typed in (canonical, format_code(canonical), format_code(canonical).lower()):
        parsed = parse_secret(typed)
        assert parsed is not None
        assert parsed.kind == "activation_code"
        assert parsed.canonical == canonical


@given(license_keys)
def test_parse_secret_recognises_a_license_key(key: str) -> None:
    for typed in (key, format_license_key(key), key.lower()):
        parsed = parse_secret(typed)
        assert parsed is not None
        assert parsed.kind == "license_key"
        assert parsed.canonical == key


@pytest.mark.parametrize("text", ["", "hello", "LIC-0000-0000", "1234", "0" * 25])
def test_parse_secret_recognises_neither_in_other_text(text: str) -> None:
    assert parse_secret(text) is None


@given(codes, license_keys)
def test_parse_secret_recognises_neither_in_a_mistyped_code_or_key(
    canonical: str, key: str
) -> None:
    code_typo = canonical[:-1] + ("0" if canonical[-1] != "0" else "1")
    key_typo = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert parse_secret(code_typo) is None
    assert parse_secret(key_typo) is None
