"""Activation codes, license keys and public license IDs: generation, normalisation, checks.

Both secrets end in a Reed-Solomon check value, so any single mistyped symbol, any
adjacent transposition (and, for license keys, up to three wrong bytes) is caught before
a lookup, and a malformed input is told apart from an unknown one. The algorithm is
public and the same in every installation.

* Activation code: 20 symbols of Crockford base32 shown as ``XXXXX-XXXXX-XXXXX-XXXXX``.
  18 random symbols (90 bits) followed by 2 check symbols over GF(32).
* License key: 32 hexadecimal digits (16 bytes): 13 random bytes (104 bits) followed by
  3 check bytes over GF(256); shown in groups of four.
* Public license ID: ``LIC-XXXX-XXXX``, random, not secret, not checked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUE = {symbol: value for value, symbol in enumerate(CROCKFORD)}
# Crockford's decoding aliases; U stays invalid.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# What normalisation drops from a typed code or key (support/redaction.py reads text
# with the same set).
SEPARATORS = " -\t\n\r\u00a0\u2010\u2011\u2012\u2013\u2014_."
_SEPARATORS = str.maketrans("", "", SEPARATORS)

CODE_LENGTH = 20
CODE_CHECK_SYMBOLS = 2
KEY_BYTES = 16
KEY_CHECK_BYTES = 3


def _typed_pattern(symbols: str, count: int, separators: int) -> str:
    """A regular expression (Python's and JSON Schema's alike) for ``count`` of the
    ``symbols``, either case, each followed by up to ``separators`` separators. The service
    takes any number of separators within the field's 64 characters; a few is what any
    printed or typed code or key has, and keeps generated examples within 64."""
    separator = "[" + "".join(f"\\u{ord(character):04x}" for character in SEPARATORS) + "]"
    symbol = "[" + "".join(sorted(set(symbols.upper() + symbols.lower()))) + "]"
    between = f"{separator}{{0,{separators}}}"
    return f"^{between}(?:{symbol}{between}){{{count}}}$"


# What ``normalize_code`` and ``normalize_license_key`` take, their check values aside
# (which no pattern can say): the API's schema names them (licensing/schemas.py).
CODE_PATTERN = _typed_pattern(CROCKFORD + "OIL", CODE_LENGTH, separators=2)
LICENSE_KEY_PATTERN = _typed_pattern("0123456789ABCDEFO", 2 * KEY_BYTES, separators=1)


class _GaloisField:
    """GF(2^m) arithmetic by log tables, enough for a systematic Reed-Solomon check."""

    def __init__(self, bits: int, primitive_polynomial: int) -> None:
        self.size = 1 << bits
        self.exp = [0] * (2 * self.size)
        self.log = [0] * self.size
        value = 1
        for power in range(self.size - 1):
            self.exp[power] = value
            self.log[value] = power
            value <<= 1
            if value & self.size:
                value ^= primitive_polynomial
        for power in range(self.size - 1, 2 * self.size):
            self.exp[power] = self.exp[power - (self.size - 1)]

    def mul(self, a: int, b: int) -> int:
        if a == 0 or b == 0:
            return 0
        return self.exp[self.log[a] + self.log[b]]

    def generator(self, check_symbols: int) -> list[int]:
        """Coefficients (highest degree first) of prod_{j=1..r} (x - alpha^j)."""
        poly = [1]
        for j in range(1, check_symbols + 1):
            root = self.exp[j]
            shifted = [*poly, 0]
            for i, coefficient in enumerate(poly):
                shifted[i + 1] ^= self.mul(coefficient, root)
            poly = shifted
        return poly

    def check_symbols(self, data: list[int], check_symbols: int) -> list[int]:
        """Remainder of data(x) * x^r divided by the generator: the systematic check."""
        generator = self.generator(check_symbols)
        remainder = [*data, *([0] * check_symbols)]
        for i in range(len(data)):
            factor = remainder[i]
            if factor:
                for j in range(1, len(generator)):
                    remainder[i + j] ^= self.mul(generator[j], factor)
        return remainder[len(data) :]

    def syndrome_table(self, length: int, check_symbols: int) -> list[list[int]]:
        """Per position and symbol value, its share of the syndromes, packed in one int.

        Syndromes are linear in the word, so a word's syndromes are the XOR of its
        symbols' shares: ``length`` look-ups instead of ``length * r`` multiplications.
        """
        bits = self.size.bit_length() - 1
        table = []
        for position in range(length):
            power = length - 1 - position
            row = []
            for value in range(self.size):
                packed = 0
                for j in range(1, check_symbols + 1):
                    share = self.mul(value, self.exp[(j * power) % (self.size - 1)])
                    packed |= share << (bits * (j - 1))
                row.append(packed)
            table.append(row)
        return table

    def is_codeword(self, word: list[int], check_symbols: int) -> bool:
        for j in range(1, check_symbols + 1):
            root = self.exp[j]
            syndrome = 0
            for symbol in word:
                syndrome = self.mul(syndrome, root) ^ symbol
            if syndrome:
                return False
        return True


_GF32 = _GaloisField(5, 0b100101)  # x^5 + x^2 + 1
_GF256 = _GaloisField(8, 0x11D)  # x^8 + x^4 + x^3 + x^2 + 1
_KEY_SYNDROMES = _GF256.syndrome_table(KEY_BYTES, KEY_CHECK_BYTES)  # checked per validation


class MalformedError(ValueError):
    """The input is not a well-formed code or key: wrong length, symbol or check value."""


# --- activation codes -------------------------------------------------------------------


def normalize_code(text: str) -> str:
    """Canonical form of a typed code: 20 upper-case symbols, no separators.

    Raises MalformedError when the length, a symbol or the check value is wrong.
    """
    compact = text.upper().translate(_SEPARATORS).translate(_ALIASES)
    if len(compact) != CODE_LENGTH:
        raise MalformedError(f"an activation code has {CODE_LENGTH} symbols")
    try:
        values = [_CROCKFORD_VALUE[symbol] for symbol in compact]
    except KeyError as error:
        raise MalformedError(f"{error.args[0]!r} is not used in activation codes") from None
    if not _GF32.is_codeword(values, CODE_CHECK_SYMBOLS):
        raise MalformedError("the check value does not match: a symbol is mistyped")
    return compact


def is_valid_code(text: str) -> bool:
    try:
        normalize_code(text)
    except MalformedError:
        return False
    return True


def format_code(canonical: str) -> str:
    """``XXXXX-XXXXX-XXXXX-XXXXX`` from the canonical 20-symbol form."""
    return "-".join(canonical[i : i + 5] for i in range(0, CODE_LENGTH, 5))


def code_from_data(data: list[int]) -> str:
    """The canonical code for 18 data symbols (values 0..31); used by generation and tests."""
    if len(data) != CODE_LENGTH - CODE_CHECK_SYMBOLS or any(not 0 <= v < 32 for v in data):
        raise ValueError("an activation code carries 18 symbols of 5 bits")
    return _code_from_valid_data(data)


def _check_contributions() -> list[list[int]]:
    # The check is linear: the check symbols of a word are the XOR of those of each data
    # symbol alone at its position. Tabulated once, a code costs 18 look-ups instead of
    # a polynomial division (generating a million codes for a card batch spent most of
    # its time there). Each entry holds the two check symbols as one 10-bit number.
    data_length = CODE_LENGTH - CODE_CHECK_SYMBOLS
    table = []
    for position in range(data_length):
        row = []
        for value in range(32):
            unit = [0] * data_length
            unit[position] = value
            first, second = _GF32.check_symbols(unit, CODE_CHECK_SYMBOLS)
            row.append(first << 5 | second)
        table.append(row)
    return table


_CHECK_CONTRIBUTIONS = _check_contributions()


def _code_from_valid_data(data: list[int]) -> str:
    check = 0
    for contributions, value in zip(_CHECK_CONTRIBUTIONS, data, strict=True):
        check ^= contributions[value]
    return "".join([CROCKFORD[v] for v in data]) + CROCKFORD[check >> 5] + CROCKFORD[check & 31]


def generate_code() -> str:
    """A new random activation code in canonical form (90 random bits)."""
    return generate_codes(1)[0]


_LOW_FIVE_BITS = bytes(value & 31 for value in range(256))


def generate_codes(count: int) -> list[str]:
    """``count`` new random codes, from one read of the system's random source."""
    data_length = CODE_LENGTH - CODE_CHECK_SYMBOLS
    # Each random byte gives one symbol: its low five bits, uniform since 32 divides 256.
    symbols = secrets.token_bytes(count * data_length).translate(_LOW_FIVE_BITS)
    return [
        _code_from_valid_data(list(symbols[start : start + data_length]))
        for start in range(0, count * data_length, data_length)
    ]


def mask_code(canonical: str) -> str:
    """A code safe to print in logs and listings: only the last group is shown."""
    return "XXXXX-XXXXX-XXXXX-" + canonical[-5:]


# --- license keys -----------------------------------------------------------------------


def normalize_license_key(text: str) -> str:
    """Canonical form of a license key: 32 upper-case hex digits.

    Accepts grouping, spaces, lower case and the look-alike O for 0 (as read from
    screenshots). Raises MalformedError when the length, a digit or the check is wrong.
    """
    compact = text.upper().translate(_SEPARATORS).replace("O", "0")
    if len(compact) != 2 * KEY_BYTES:
        raise MalformedError(f"a license key has {2 * KEY_BYTES} hexadecimal digits")
    try:
        raw = bytes.fromhex(compact)
    except ValueError:
        raise MalformedError("a license key has only the digits 0-9 and A-F") from None
    syndromes = 0
    for share_of, byte in zip(_KEY_SYNDROMES, raw, strict=True):
        syndromes ^= share_of[byte]
    if syndromes:
        raise MalformedError("the check value does not match: a digit is wrong")
    return compact


def is_valid_license_key(text: str) -> bool:
    try:
        normalize_license_key(text)
    except MalformedError:
        return False
    return True


def license_key_from_data(data: bytes) -> str:
    if len(data) != KEY_BYTES - KEY_CHECK_BYTES:
        raise ValueError(f"a license key carries {KEY_BYTES - KEY_CHECK_BYTES} bytes")
    check = bytes(_GF256.check_symbols(list(data), KEY_CHECK_BYTES))
    return (data + check).hex().upper()


def generate_license_key() -> str:
    """A new random license key in canonical form (104 random bits)."""
    return license_key_from_data(secrets.token_bytes(KEY_BYTES - KEY_CHECK_BYTES))


def format_license_key(canonical: str) -> str:
    """Eight groups of four digits, the way the License details window shows it."""
    return " ".join(canonical[i : i + 4] for i in range(0, 2 * KEY_BYTES, 4))


def mask_license_key(canonical: str) -> str:
    return "XXXX " * 7 + canonical[-4:]


# --- public license IDs -----------------------------------------------------------------


def readable_number(prefix: str) -> str:
    """``PREFIX-7K3M-9QXT``: 40 random bits, read aloud without ambiguity, not sequential
    (public license IDs, order numbers, support request numbers)."""
    symbols = "".join(secrets.choice(CROCKFORD) for _ in range(8))
    return f"{prefix}-{symbols[:4]}-{symbols[4:]}"


def generate_public_id() -> str:
    return readable_number("LIC")


@dataclass(frozen=True)
class ParsedSecret:
    kind: str  # "activation_code" or "license_key"
    canonical: str


def parse_secret(text: str) -> ParsedSecret | None:
    """Tell whether an admin typed an activation code or a license key; None if neither."""
    for kind, normalize in (
        ("activation_code", normalize_code),
        ("license_key", normalize_license_key),
    ):
        try:
            return ParsedSecret(kind, normalize(text))
        except MalformedError:
            continue
    return None
