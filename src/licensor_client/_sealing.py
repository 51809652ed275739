"""Sealing the activation code: to this machine, or to a passphrase the customer chooses.

AES-256-GCM; the license key is bound in as associated data, so a sealed code cannot be
moved into another license's state or backup. A passphrase is stretched with scrypt
(memory-hard, so guessing it from a stolen backup is slow).
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from licensor_client._signing import LicenseFile, b64url_decode, b64url_encode
from licensor_client.exceptions import BackupError, BackupLocked

# 128 MiB and about half a second per guess (OWASP's scrypt floor is N=2**17, r=8).
# Older backups made with N=2**15 still open: anything within MAX_SCRYPT_MEMORY does.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
MAX_SCRYPT_MEMORY = 256 * 2**20


def code_context(license_file: LicenseFile) -> bytes:
    """What the code sealed in the device's state is bound to: its license."""
    return b"licensor-code/1\0" + license_file.license_key.encode()


def _stretch(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def seal(secret: str, key: bytes, context: bytes) -> dict[str, Any]:
    """``secret`` sealed with ``key``, bound to ``context``: ``{nonce, ciphertext}``."""
    nonce = os.urandom(12)
    return {
        "nonce": b64url_encode(nonce),
        "ciphertext": b64url_encode(AESGCM(key).encrypt(nonce, secret.encode(), context)),
    }


def unseal(envelope: dict[str, Any], key: bytes, context: bytes) -> str:
    """What ``seal`` sealed; ``BackupLocked`` for another key or context."""
    try:
        nonce, ciphertext = b64url_decode(envelope["nonce"]), b64url_decode(envelope["ciphertext"])
    except (KeyError, TypeError, ValueError) as error:
        raise BackupError("the sealed code is damaged") from error
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, context).decode()
    except InvalidTag as error:
        raise BackupLocked("sealed to another machine or passphrase") from error
    except ValueError as error:  # a nonce of the wrong size
        raise BackupError("the sealed code is damaged") from error


def seal_with_passphrase(secret: str, passphrase: str, context: bytes) -> dict[str, Any]:
    if not passphrase:
        raise ValueError("a backup passphrase cannot be empty")
    salt = os.urandom(16)
    envelope = seal(secret, _stretch(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P), context)
    return {
        **envelope,
        "kdf": {
            "name": "scrypt",
            "salt": b64url_encode(salt),
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
        },
    }


def unseal_with_passphrase(envelope: dict[str, Any], passphrase: str, context: bytes) -> str:
    kdf = envelope.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise BackupError("the backup uses a key derivation this version does not know")
    try:
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt = b64url_decode(kdf["salt"])
    except (KeyError, TypeError, ValueError) as error:
        raise BackupError("the backup's passphrase parameters are damaged") from error
    # scrypt needs 128·n·r bytes: a crafted backup must not make the app allocate gigabytes.
    if not (
        2**10 <= n <= 2**20
        and n & (n - 1) == 0
        and 1 <= r <= 32
        and 1 <= p <= 16
        and 128 * n * r <= MAX_SCRYPT_MEMORY
    ):
        raise BackupError("the backup's passphrase parameters are out of range")
    return unseal(envelope, _stretch(passphrase, salt, n, r, p), context)
