"""Passwords: argon2id hashes, rehashed when the parameters change, and a policy.

The policy follows NIST SP 800-63B: a length floor (15 characters where the password is
the only factor, 8 where a second factor backs it), no composition rules, and a refusal
of passwords on a list of common and breached ones shipped with the product
(``common-passwords.txt.gz``, built by ``scripts/build_password_list.py``, which says
where it comes from). No network is used at run time.
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import threading
from array import array
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 15  # the password is the only factor
MIN_LENGTH_WITH_SECOND_FACTOR = 8
MAX_LENGTH = 1024
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("licensor: no such account")


def burn_verification(password: str) -> None:
    """Spend what a real check spends, so an unknown email answers as slowly as a known one."""
    verify_password(_dummy_hash(), password)


def policy_problem(password: str, email: str = "", *, second_factor: bool = False) -> str | None:
    """Why a new password is refused, or None. (Messages are translated by the caller.)

    ``second_factor``: the account signs in with a second factor too, so a shorter
    password is enough.
    """
    if len(password) < (MIN_LENGTH_WITH_SECOND_FACTOR if second_factor else MIN_LENGTH):
        return "too_short_with_two_factor" if second_factor else "too_short"
    if len(password) > MAX_LENGTH:
        return "too_long"
    if email and password.strip().lower() == email.strip().lower():
        return "same_as_email"
    if is_common(password):
        return "too_common"
    return None


# --- the list of common passwords -------------------------------------------------------
# About 475,000 entries: kept as a sorted array of 64-bit hashes (about 4 MB) rather than
# a set of strings (about 40 MB), built on first use and searched by bisection. A false
# match needs a 64-bit collision with one of them: about one chance in 4 * 10^13.

_COMMON_KEY = b"licensor:common-passwords"
_common: array[int] | None = None
_common_lock = threading.Lock()


def _hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=_COMMON_KEY).digest()
    return int.from_bytes(digest, "big")


def _common_hashes() -> array[int]:
    global _common
    with _common_lock:
        if _common is None:
            with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
                hashes = sorted(_hash(line.rstrip("\n")) for line in lines)
            _common = array("Q", hashes)
        return _common


def is_common(password: str) -> bool:
    """Whether the password (in any case) is on the shipped list of common passwords."""
    hashes = _common_hashes()
    wanted = _hash(password.strip().lower())
    index = bisect.bisect_left(hashes, wanted)
    return index < len(hashes) and hashes[index] == wanted
