"""Key material: code encryption (AES-256-GCM), blind index (HMAC-SHA256), signing (Ed25519).

Every key has an id, stored beside what it produced, so keys can be rotated: the first
key of a ring is used for new data, the others only to read old data. The embedded
default creates its keys on first start in ``var/keys`` (mode 0600); production passes
them in ``LICENSOR_*`` variables or points ``LICENSOR_KEYS_DIR`` at mounted files.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from licensor.config import Settings
from licensor.errors import KeyMaterialError
from licensor.files import private_directory

_BLOB_VERSION = 1
_NONCE_BYTES = 12
BLIND_INDEX_BYTES = 16


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class NamedKey:
    id: str
    secret: bytes


def parse_ring(text: str, *, size: int, name: str) -> list[NamedKey]:
    """Parse ``id:base64url[,id:base64url...]`` (or one entry per line)."""
    keys = []
    for entry in text.replace("\n", ",").split(","):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise KeyMaterialError(f"{name}: each entry must be 'id:base64url'")
        secret = b64url_decode(encoded.strip())
        if len(secret) != size:
            raise KeyMaterialError(
                f"{name}: key {key_id!r} must be {size} bytes, not {len(secret)}"
            )
        keys.append(NamedKey(key_id.strip(), secret))
    if not keys:
        raise KeyMaterialError(f"{name}: no key given")
    return keys


class Keyring:
    """All the key material one installation uses, loaded once at start."""

    def __init__(
        self,
        encryption: list[NamedKey],
        blind_index: NamedKey,
        signing: list[NamedKey],
    ) -> None:
        self._encryption = {key.id: AESGCM(key.secret) for key in encryption}
        self._current_encryption_id = encryption[0].id
        self._blind_index = blind_index
        self._signing = {
            key.id: Ed25519PrivateKey.from_private_bytes(key.secret) for key in signing
        }
        self.signing_key_id = signing[0].id
        self._signer = self._signing[self.signing_key_id]

    # encryption at rest ------------------------------------------------------------------

    def encrypt(self, plaintext: str, *, purpose: bytes) -> bytes:
        """Encrypt with the current key; the purpose binds the blob to its column."""
        return self.encrypt_bytes(plaintext.encode(), purpose=purpose)

    def decrypt(self, blob: bytes, *, purpose: bytes) -> str:
        return self.decrypt_bytes(blob, purpose=purpose).decode()

    def encrypt_bytes(self, plaintext: bytes, *, purpose: bytes) -> bytes:
        """``encrypt`` for binary data (attachments kept on disk)."""
        key_id = self._current_encryption_id.encode()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._encryption[self._current_encryption_id].encrypt(nonce, plaintext, purpose)
        return bytes([_BLOB_VERSION, len(key_id)]) + key_id + nonce + sealed

    def decrypt_bytes(self, blob: bytes, *, purpose: bytes) -> bytes:
        if not blob or blob[0] != _BLOB_VERSION:
            raise KeyMaterialError("unknown encrypted blob version")
        id_length = blob[1]
        key_id = blob[2 : 2 + id_length].decode()
        cipher = self._encryption.get(key_id)
        if cipher is None:
            raise KeyMaterialError(f"encryption key {key_id!r} is not in the keyring")
        nonce_start = 2 + id_length
        nonce = blob[nonce_start : nonce_start + _NONCE_BYTES]
        try:
            return cipher.decrypt(nonce, blob[nonce_start + _NONCE_BYTES :], purpose)
        except InvalidTag:
            raise KeyMaterialError("encrypted value failed authentication") from None

    # lookup ------------------------------------------------------------------------------

    def blind_index(self, canonical: str, *, purpose: bytes) -> bytes:
        """Keyed hash for equality lookups: without the key, the index reveals nothing."""
        digest = hmac.new(
            self._blind_index.secret, purpose + b"\x00" + canonical.encode(), hashlib.sha256
        )
        return digest.digest()[:BLIND_INDEX_BYTES]

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte secret for a purpose of its own (CSRF tokens, ...), via HKDF."""
        return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"licensor:" + purpose).derive(
            self._blind_index.secret
        )

    @property
    def blind_index_key_id(self) -> str:
        return self._blind_index.id

    # signing -----------------------------------------------------------------------------

    def sign(self, message: bytes) -> tuple[str, bytes]:
        return self.signing_key_id, self._signer.sign(message)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {key_id: key.public_key() for key_id, key in self._signing.items()}

    def public_keys_b64(self) -> dict[str, str]:
        return {
            key_id: b64url(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
            for key_id, key in self.public_keys().items()
        }


_FILES = {
    "code_encryption_keys": ("code-encryption.keys", 32),
    "blind_index_key": ("blind-index.key", 32),
    "signing_keys": ("signing.keys", 32),
}


def _new_key_line() -> str:
    key_id = f"{secrets.token_hex(4)}"
    return f"{key_id}:{b64url(secrets.token_bytes(32))}\n"


def _read_or_create(path: Path, create: bool) -> str:
    if path.exists():
        return path.read_text()
    if not create:
        raise KeyMaterialError(f"{path} does not exist and LICENSOR_CREATE_KEYS is off")
    private_directory(path.parent)  # and var/ above it, when made here (files.py)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_new_key_line())
    return path.read_text()


def load_keyring(settings: Settings) -> Keyring:
    """Keys from the environment where given, else from files (created if allowed)."""
    texts: dict[str, str] = {}
    for field, (filename, _) in _FILES.items():
        value = getattr(settings, field)
        texts[field] = (
            value
            if value
            else _read_or_create(settings.resolved_keys_dir / filename, settings.create_keys)
        )
    encryption = parse_ring(texts["code_encryption_keys"], size=32, name="code encryption keys")
    blind = parse_ring(texts["blind_index_key"], size=32, name="blind index key")
    if len(blind) != 1:
        # A second blind-index key would need every index recomputed; see docs/keys.md.
        raise KeyMaterialError("blind index key: exactly one key is used")
    signing = parse_ring(texts["signing_keys"], size=32, name="signing keys")
    return Keyring(encryption, blind[0], signing)
