"""Passwords: argon2id hashes, rehashed when the parameters change, and a policy."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024

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


def policy_problem(password: str, email: str = "") -> str | None:
    """Why a new password is refused, or None. (Messages are translated by the caller.)"""
    if len(password) < MIN_LENGTH:
        return "too_short"
    if len(password) > MAX_LENGTH:
        return "too_long"
    if email and password.strip().lower() == email.strip().lower():
        return "same_as_email"
    return None
