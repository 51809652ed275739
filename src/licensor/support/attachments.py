"""Screenshots attached to support requests: checked, re-encoded, stored encrypted.

An upload is accepted only as a PNG, JPEG or WebP image, told by its bytes (never by its
name or declared type), within a size and a pixel limit, with nothing after the image's
end (a PNG followed by a ZIP, say), and only if it decodes completely. What is kept is a
fresh PNG of its pixels: no metadata, no extra chunks, nothing appended survives. The PNG
is encrypted (``Keyring.encrypt_bytes``) into ``var/attachments``, which nothing serves.

Checking happens before the request's transaction (it is CPU work, and SQLite holds its
write lock for a whole transaction); storing happens inside it. A file written in a
transaction that then rolls back is removed, so no row ever points at a missing file.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from licensor.config import Settings
from licensor.errors import LicensorError
from licensor.files import write_private
from licensor.keys import Keyring
from licensor.models import Attachment

MAX_FILES = 3
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 25_000_000  # a 5K screen is 14.7 MP; a window of it is far less
FILE_PURPOSE = b"support_attachments.file"
OCR_PURPOSE = b"support_attachments.ocr"
STORED_TYPE = "image/png"
DIRECTORY = "attachments"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_STORAGE_NAME = re.compile(r"[0-9a-f]{32}")
_FILES_KEY = "licensor.support.attachment_files"


# --- refusals ---------------------------------------------------------------------------


class AttachmentRefused(LicensorError):
    """A screenshot we do not keep; the form shows the title beside the file field."""

    status = 422
    code = "attachment_refused"
    title = "This file cannot be attached"


class AttachmentTooLarge(AttachmentRefused):
    status = 413
    code = "attachment_too_large"
    title = "This file is larger than 5 MB: attach a smaller screenshot."


class AttachmentType(AttachmentRefused):
    code = "attachment_type"
    title = "This file is not a PNG, JPEG or WebP image."


class AttachmentPixels(AttachmentRefused):
    code = "attachment_pixels"
    title = (
        "This image is too large (more than 25 megapixels): attach a screenshot of the window only."
    )


class AttachmentDamaged(AttachmentRefused):
    code = "attachment_damaged"
    title = "This image is damaged or incomplete and cannot be read."


class AttachmentPolyglot(AttachmentRefused):
    code = "attachment_polyglot"
    title = (
        "This file has other data after the image. Save the screenshot again and attach "
        "the new file."
    )


class TooManyAttachments(AttachmentRefused):
    code = "too_many_attachments"
    title = "Attach at most 3 screenshots."


REFUSALS: tuple[type[AttachmentRefused], ...] = (
    AttachmentTooLarge,
    AttachmentType,
    AttachmentPixels,
    AttachmentDamaged,
    AttachmentPolyglot,
    TooManyAttachments,
)


# --- what arrives, what is kept -----------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A file as the browser sent it; ``data`` holds at most MAX_FILE_BYTES + 1 bytes."""

    filename: str
    data: bytes


def read_upload(filename: str | None, stream: IO[bytes]) -> Upload:
    """Read an uploaded file, no further than what tells that it is too large."""
    return Upload(filename or "", stream.read(MAX_FILE_BYTES + 1))


@dataclass(frozen=True)
class Screenshot:
    """An accepted upload: its pixels as a fresh PNG."""

    filename: str
    png: bytes
    width: int
    height: int
    source_type: str  # what it arrived as: image/png, image/jpeg, image/webp


@dataclass(frozen=True)
class CheckedUploads:
    """The screenshots of one form, or why one of them was refused (then none is kept)."""

    screenshots: tuple[Screenshot, ...] = ()
    refusal: AttachmentRefused | None = None
    refused_filename: str = ""


def check_uploads(uploads: Sequence[Upload]) -> CheckedUploads:
    """Check every file of a form; the first refusal wins and drops them all."""
    uploads = [upload for upload in uploads if upload.filename or upload.data]
    if len(uploads) > MAX_FILES:
        return CheckedUploads(refusal=TooManyAttachments())
    screenshots = []
    for upload in uploads:
        try:
            screenshots.append(check_screenshot(upload))
        except AttachmentRefused as refusal:
            return CheckedUploads(refusal=refusal, refused_filename=clean_filename(upload.filename))
    return CheckedUploads(tuple(screenshots))


def check_screenshot(upload: Upload) -> Screenshot:
    """Accept one upload as a screenshot, or raise the AttachmentRefused that says why."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    data = upload.data
    if len(data) > MAX_FILE_BYTES:
        raise AttachmentTooLarge()
    kind = sniff(data)
    if kind is None:
        raise AttachmentType()
    end = _end_of_image(kind, data)
    if data[end:].strip(b"\x00"):
        raise AttachmentPolyglot()
    with warnings.catch_warnings():
        # Pillow warns of a bomb before it refuses one; either way it is ours to say.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            opened = Image.open(io.BytesIO(data), formats=[kind])
            if opened.width * opened.height > MAX_PIXELS:  # the header's size, not decoded yet
                raise AttachmentPixels()
            opened.load()
            image: Image.Image = ImageOps.exif_transpose(opened)
            mode = image.mode
            if mode not in ("RGB", "RGBA", "L", "LA"):
                has_alpha = "A" in mode or "transparency" in image.info
                mode = "RGBA" if has_alpha else "RGB"
                image = image.convert(mode)
            # A new image from the pixels alone: nothing of the original's info travels.
            clean = Image.frombytes(mode, image.size, image.tobytes())
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise AttachmentPixels() from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise AttachmentDamaged() from None
    out = io.BytesIO()
    clean.save(out, format="PNG", compress_level=6)
    return Screenshot(
        filename=clean_filename(upload.filename),
        png=out.getvalue(),
        width=clean.width,
        height=clean.height,
        source_type={"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[kind],
    )


def sniff(data: bytes) -> str | None:
    """PNG, JPEG or WEBP (Pillow's format names) from the first bytes, else None."""
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _end_of_image(kind: str, data: bytes) -> int:
    if kind == "PNG":
        return _png_end(data)
    if kind == "JPEG":
        return _jpeg_end(data)
    return _webp_end(data)


def _png_end(data: bytes) -> int:
    """Just past the IEND chunk."""
    position = len(_PNG_SIGNATURE)
    while True:
        if position + 12 > len(data):
            raise AttachmentDamaged()
        length = int.from_bytes(data[position : position + 4], "big")
        chunk_type = data[position + 4 : position + 8]
        position += 12 + length
        if position > len(data):
            raise AttachmentDamaged()
        if chunk_type == b"IEND":
            return position


def _jpeg_end(data: bytes) -> int:
    """Just past the EOI marker, following segments and entropy-coded scans."""
    size = len(data)
    position = 2
    while True:
        if position >= size or data[position] != 0xFF:
            raise AttachmentDamaged()
        while position < size and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= size:
            raise AttachmentDamaged()
        marker = data[position]
        position += 1
        if marker == 0xD9:  # EOI
            return position
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            continue
        if position + 2 > size:
            raise AttachmentDamaged()
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2:
            raise AttachmentDamaged()
        position += length
        if marker == 0xDA:  # a scan: its data runs to the next marker
            while True:
                position = data.find(b"\xff", position)
                if position < 0 or position + 1 >= size:
                    raise AttachmentDamaged()
                following = data[position + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffing, restarts
                    position += 2
                    continue
                break


def _webp_end(data: bytes) -> int:
    """The RIFF container's own length."""
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        raise AttachmentDamaged()
    return end


def clean_filename(filename: str) -> str:
    """The name as the customer saw it, without folders or control characters."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C").strip()
    if len(name) > 200:
        stem, dot, suffix = name.rpartition(".")
        name = stem[: 190 - len(suffix)] + dot + suffix if dot and len(suffix) <= 10 else name
        name = name[:200]
    return name or "screenshot"


# --- storage ------------------------------------------------------------------------------


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


# --- what OCR read ------------------------------------------------------------------------


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
