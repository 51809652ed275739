"""Screenshots as they arrive with a support form: checked, and re-encoded.

An upload is accepted only as a PNG, JPEG or WebP image, told by its bytes (never by its
name or declared type), within a size and a pixel limit, with nothing after the image's
end (a PNG followed by a ZIP, say), and only if it decodes completely. What is kept is a
fresh PNG of its pixels: no metadata, no extra chunks, nothing appended survives; storing
it is ``attachments.py``'s.

Checking happens before the request's transaction (it is CPU work, and SQLite holds its
write lock for a whole transaction).
"""

from __future__ import annotations

import io
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from licensor.errors import (
    AttachmentDamaged,
    AttachmentPixels,
    AttachmentPolyglot,
    AttachmentRefused,
    AttachmentTooLarge,
    AttachmentType,
    TooManyAttachments,
)

MAX_FILES = 3
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 25_000_000  # a 5K screen is 14.7 MP; a window of it is far less

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Every refusal, whose titles the form shows beside the file field.
REFUSALS: tuple[type[AttachmentRefused], ...] = (
    AttachmentTooLarge,
    AttachmentType,
    AttachmentPixels,
    AttachmentDamaged,
    AttachmentPolyglot,
    TooManyAttachments,
)


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
