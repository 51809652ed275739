"""Screenshots attached to support requests, stored: encrypted, and what OCR read from
each.

The fresh PNG of an accepted upload (``uploads.py``) is encrypted
(``Keyring.encrypt_bytes``) and handed to the attachment store named by
``LICENSOR_ATTACHMENT_STORE``. The store keeps ciphertext only; the keys stay ours. Its
one backend today is the database (table ``attachment_contents``): every host shares it,
so a screenshot posted to one host is shown by any other and read by any worker, and the
request's transaction decides (a request that rolls back leaves no content behind). An
S3-compatible backend would be a second class with the same two methods, keyed by
``Attachment.storage_name``.

Lists of attachments never load the bytes: the contents are a table of their own,
without a relationship from ``Attachment``, read one at a time by ``load_attachment``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from licensor.config import Settings
from licensor.errors import NotFound
from licensor.keys import Keyring
from licensor.logging import log
from licensor.models import Attachment, AttachmentContent
from licensor.support.uploads import Screenshot

FILE_PURPOSE = b"support_attachments.file"
OCR_PURPOSE = b"support_attachments.ocr"
STORED_TYPE = "image/png"


class AttachmentStore(Protocol):
    """Where the encrypted bytes of attachments live. ``save`` is called inside the
    transaction that adds the attachment's row (flushed, so it has its id), ``load``
    inside one that reads it; None means the store has no contents for it."""

    def save(self, session: Session, attachment: Attachment, ciphertext: bytes) -> None: ...

    def load(self, session: Session, attachment: Attachment) -> bytes | None: ...


class DatabaseStore:
    """The contents in ``attachment_contents``, written and rolled back with the row."""

    def save(self, session: Session, attachment: Attachment, ciphertext: bytes) -> None:
        session.add(AttachmentContent(attachment_id=attachment.id, ciphertext=ciphertext))

    def load(self, session: Session, attachment: Attachment) -> bytes | None:
        return session.scalar(
            select(AttachmentContent.ciphertext).where(
                AttachmentContent.attachment_id == attachment.id
            )
        )


# LICENSOR_ATTACHMENT_STORE's values, each a backend made from the settings.
STORES: dict[str, Callable[[Settings], AttachmentStore]] = {
    "database": lambda settings: DatabaseStore(),
}


def attachment_store(settings: Settings) -> AttachmentStore:
    """The backend the settings name."""
    return STORES[settings.attachment_store](settings)


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
    """Add the screenshot's row to the session and its encrypted bytes to the store, in
    the same transaction."""
    attachment = Attachment(
        request_id=request_id,
        message_id=message_id,
        # The name an object store would keep it under; random, so it tells nothing.
        storage_name=secrets.token_hex(16),
        filename=screenshot.filename,
        content_type=STORED_TYPE,
        width=screenshot.width,
        height=screenshot.height,
        size_bytes=len(screenshot.png),
        sha256=hashlib.sha256(screenshot.png).digest(),
        created_at=now,
    )
    session.add(attachment)
    session.flush()
    ciphertext = keyring.encrypt_bytes(screenshot.png, purpose=FILE_PURPOSE)
    attachment_store(settings).save(session, attachment, ciphertext)
    return attachment


def load_attachment(
    session: Session, settings: Settings, keyring: Keyring, attachment: Attachment
) -> bytes:
    """The stored PNG of an attachment, decrypted; NotFound when the store has none (an
    installation upgraded from files whose ``licensor migrate`` has not read them in)."""
    ciphertext = attachment_store(settings).load(session, attachment)
    if ciphertext is None:
        log.error(
            "support.attachment_contents_missing",
            attachment=attachment.id,
            fix="run `licensor migrate` on the host whose var/attachments holds the file",
        )
        raise NotFound("there is no such screenshot")
    return keyring.decrypt_bytes(ciphertext, purpose=FILE_PURPOSE)


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
