"""Key material: code encryption (AES-256-GCM), blind index (HMAC-SHA256), signing (Ed25519).

Every key has an id, stored beside what it produced, so keys can be rotated: the first
key of a ring is used for new data, the others only to read old data. The embedded
default creates its keys on first start in ``var/keys`` (mode 0600); production passes
them in ``LICENSOR_*`` variables or points ``LICENSOR_KEYS_DIR`` at mounted files.

Each key also has a check value (``KeyCheckValue``), which the database keeps
(licensor/keychecks.py) so that a host started with other keys is told apart from one
started with the right ones. A check value says whether two keys are the same and nothing
more: for a secret key, an HMAC of a fixed label under a key derived from it; for a
signing key, a hash of its public half.
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
# The kinds of key a check value is kept for (KeyCheck.kind).
ENCRYPTION = "encryption"
BLIND_INDEX = "blind_index"
SIGNING = "signing"
_CHECK_LABEL = b"licensor key check value"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class NamedKey:
    id: str
    secret: bytes


@dataclass(frozen=True)
class KeyCheckValue:
    """What the database keeps of one key: its kind, its id and its check value."""

    kind: str
    key_id: str
    value: bytes


def secret_check_value(kind: str, key: NamedKey) -> KeyCheckValue:
    """The check value of a secret key: an HMAC of a fixed label under a key derived from
    it for this purpose alone (HKDF), so that it neither helps recover the key nor equals
    anything the key makes elsewhere."""
    derived = HKDF(
        algorithm=SHA256(), length=32, salt=None, info=b"licensor:key-check:" + kind.encode()
    ).derive(key.secret)
    label = _CHECK_LABEL + b"\x00" + key.id.encode()
    return KeyCheckValue(kind, key.id, hmac.new(derived, label, hashlib.sha256).digest())


def signing_check_value(key_id: str, public_key: Ed25519PublicKey) -> KeyCheckValue:
    """The check value of a signing key: the SHA-256 of its public key (which is public)."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KeyCheckValue(SIGNING, key_id, hashlib.sha256(raw).digest())


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


def sealed_with(blob: bytes) -> str | None:
    """The id of the key that encrypted ``blob`` (None: not a blob of ours)."""
    if len(blob) < 2 or blob[0] != _BLOB_VERSION:
        return None
    return blob[2 : 2 + blob[1]].decode(errors="replace")


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
        self.check_values: tuple[KeyCheckValue, ...] = (
            *(secret_check_value(ENCRYPTION, key) for key in encryption),
            secret_check_value(BLIND_INDEX, blind_index),
            *(
                signing_check_value(key_id, key.public_key())
                for key_id, key in self._signing.items()
            ),
        )

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

    def holds_encryption_key(self, key_id: str) -> bool:
        return key_id in self._encryption

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

    def mac(self, message: str, *, purpose: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under the key derived for ``purpose``: how tokens,
        links and tags are kept or checked without the table alone opening them."""
        return hmac.new(self.derive(purpose), message.encode(), hashlib.sha256).digest()

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


KEY_FILES = tuple(filename for filename, _ in _FILES.values())


def _new_key_line() -> str:
    key_id = f"{secrets.token_hex(4)}"
    return f"{key_id}:{b64url(secrets.token_bytes(32))}\n"


def _create(path: Path) -> None:
    private_directory(path.parent)  # and var/ above it, when made here (files.py)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_new_key_line())


def create_key_files(directory: Path) -> list[Path]:
    """A fresh key in each key file of ``directory`` (made 0700; files 0600), for hosts
    that share a database: ``licensor keys create``. Never overwrites a key file."""
    paths = [directory / filename for filename in KEY_FILES]
    if existing := [path for path in paths if path.exists()]:
        raise KeyMaterialError(
            f"{existing[0]} already exists: key files are never overwritten "
            "(a key replaced is data lost; to rotate, see docs/keys.md)"
        )
    for path in paths:
        _create(path)
    return paths


def _missing_keys(settings: Settings, missing: list[str]) -> KeyMaterialError:
    what = (
        f"no keys: {', '.join(missing)} not in {settings.resolved_keys_dir}, "
        "nor in the LICENSOR_* key variables"
    )
    if settings.create_keys is None:  # off by default: the database is not SQLite
        return KeyMaterialError(
            f"{what}; hosts sharing a PostgreSQL database must share its keys, so none is "
            "made here: create them once with `licensor keys create --dir DIR`, then start "
            "every host with LICENSOR_KEYS_DIR=DIR (docs/keys.md)"
        )
    return KeyMaterialError(
        f"{what}, and LICENSOR_CREATE_KEYS is off: start with the keys that made this "
        "database, or create keys with `licensor keys create --dir DIR` (docs/keys.md)"
    )


def load_keyring(settings: Settings) -> Keyring:
    """Keys from the environment where given, else from files (created if allowed:
    ``Settings.creates_keys``)."""
    given = {field: getattr(settings, field) for field in _FILES}
    paths = {
        field: settings.resolved_keys_dir / filename for field, (filename, _) in _FILES.items()
    }
    missing = [field for field in _FILES if not given[field] and not paths[field].exists()]
    if missing and not settings.creates_keys:
        raise _missing_keys(settings, [paths[field].name for field in missing])
    texts = {}
    for field in _FILES:
        try:
            if field in missing:
                _create(paths[field])
            texts[field] = given[field] or paths[field].read_text()
        except OSError as error:  # a keys directory not ours, a file in its place
            raise KeyMaterialError(
                f"cannot {'create' if field in missing else 'read'} {paths[field]} "
                f"({error.strerror}): the keys directory must be this user's to read and, "
                "where keys are made, to write (LICENSOR_KEYS_DIR; docs/keys.md)"
            ) from None
    encryption = parse_ring(texts["code_encryption_keys"], size=32, name="code encryption keys")
    blind = parse_ring(texts["blind_index_key"], size=32, name="blind index key")
    if len(blind) != 1:
        # A second blind-index key would need every index recomputed; see docs/keys.md.
        raise KeyMaterialError("blind index key: exactly one key is used")
    signing = parse_ring(texts["signing_keys"], size=32, name="signing keys")
    return Keyring(encryption, blind[0], signing)
