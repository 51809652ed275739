"""Screenshots attached to support requests, stored: encrypted, and what OCR read from
each.

The fresh PNG of an accepted upload (``uploads.py``) is encrypted
(``Keyring.encrypt_bytes``) into ``var/attachments``, which nothing serves, inside the
request's transaction. A file written in a transaction that then rolls back is removed,
so no row ever points at a missing file.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from licensor.config import Settings
from licensor.files import write_private
from licensor.keys import Keyring
from licensor.models import Attachment
from licensor.support.uploads import Screenshot

FILE_PURPOSE = b"support_attachments.file"
OCR_PURPOSE = b"support_attachments.ocr"
STORED_TYPE = "image/png"
DIRECTORY = "attachments"

_STORAGE_NAME = re.compile(r"[0-9a-f]{32}")
_FILES_KEY = "licensor.support.attachment_files"


def attachments_dir(settings: Settings) -> Path:
    return settings.var_dir / DIRECTORY


def store_attachment(
    session: Session,
    settings: Settings,
    keyring: Keyring,
    now: datetime,
    *,
    request_id: int,
    message_id: int | None,
    screenshot: Screenshot,
) -> Attachment:
    """Write the screenshot encrypted under a random name and add its row to the session.

    The file is written first (atomically, 0600), so a committed row always has its file;
    if the transaction then rolls back, the file is removed again.
    """
    directory = attachments_dir(settings)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    storage_name = secrets.token_hex(16)
    path = directory / storage_name
    write_private(path, keyring.encrypt_bytes(screenshot.png, purpose=FILE_PURPOSE))
    _remove_unless_committed(session, path)
    attachment = Attachment(
        request_id=request_id,
        message_id=message_id,
        storage_name=storage_name,
        filename=screenshot.filename,
        content_type=STORED_TYPE,
        width=screenshot.width,
        height=screenshot.height,
        size_bytes=len(screenshot.png),
        sha256=hashlib.sha256(screenshot.png).digest(),
        created_at=now,
    )
    session.add(attachment)
    return attachment


def _remove_unless_committed(session: Session, path: Path) -> None:
    files: list[Path] | None = session.info.get(_FILES_KEY)
    if files is None:
        files = session.info[_FILES_KEY] = []
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_transaction_end", _ended)
    files.append(path)


def _committed(session: Session) -> None:
    session.info[_FILES_KEY] = []


def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:  # a savepoint: the outer transaction decides
        return
    files: list[Path] = session.info.get(_FILES_KEY) or []
    session.info[_FILES_KEY] = []
    for path in files:  # the transaction did not commit: no row refers to them
        path.unlink(missing_ok=True)


def load_attachment(settings: Settings, keyring: Keyring, attachment: Attachment) -> bytes:
    """The stored PNG of an attachment, decrypted."""
    if not _STORAGE_NAME.fullmatch(attachment.storage_name):
        raise ValueError("not a storage name of ours")
    blob = (attachments_dir(settings) / attachment.storage_name).read_bytes()
    return keyring.decrypt_bytes(blob, purpose=FILE_PURPOSE)


@dataclass(frozen=True)
class OcrReading:
    """The license key read from a screenshot: ``text`` as read, ``license_key`` when a
    candidate's check value held, which ``verified`` says."""

    text: str
    license_key: str | None
    verified: bool


def seal_reading(keyring: Keyring, text: str, license_key: str | None) -> bytes:
    """``ocr_ciphertext`` for a reading: it may hold a license key, so it is encrypted."""
    payload: dict[str, Any] = {"text": text, "license_key": license_key}
    return keyring.encrypt(json.dumps(payload), purpose=OCR_PURPOSE)


def ocr_reading(keyring: Keyring, attachment: Attachment) -> OcrReading | None:
    """What OCR read from the attachment; None until it has read it (or when it failed)."""
    if attachment.ocr_ciphertext is None:
        return None
    payload = json.loads(keyring.decrypt(attachment.ocr_ciphertext, purpose=OCR_PURPOSE))
    license_key = payload.get("license_key")
    return OcrReading(
        text=str(payload.get("text") or ""),
        license_key=license_key,
        verified=bool(attachment.ocr_verified and license_key),
    )
