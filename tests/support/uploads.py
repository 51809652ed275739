"""Helpers for the support form's tests: pictures (the reference app's screenshot, and
hostile files), posting the form with files as a browser does, and what got stored."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import date
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import func, select

from licensor.db import Database
from licensor.keys import Keyring
from licensor.licensing.formats import generate_license_key
from licensor.mail.outbox import bodies
from licensor.models import (
    Attachment,
    AttachmentContent,
    Job,
    SupportMessage,
    SupportRequest,
)
from licensor_app.screenshot import save_license_details
from tests.accounts.factories import Browser, outbox

SUPPORT = "/support"
CARD_FORM = "/support?topic=recover_card_code"
CSRF_FIELD = "csrf_token"
FOLLOW_LINK = re.compile(r"https?://[^/\s]+(/support/requests/[A-Za-z0-9_\-]+)")
REQUEST_NUMBER = re.compile(r"\bSUP-[0-9A-Z]{4}-[0-9A-Z]{4}\b")

File = tuple[str, bytes, str]  # (filename, content, declared type)


# --- pictures ---------------------------------------------------------------------------------


def license_details_png(directory: Path, license_key: str | None = None) -> tuple[str, bytes]:
    """(license key, PNG) as the reference app's Save screenshot writes it."""
    key = license_key or generate_license_key()
    path = save_license_details(
        directory / "license-details.png", key, "LIC-PP2T-PPD4", "Plus", date(2027, 3, 1)
    )
    return key, path.read_bytes()


def picture(format: str = "PNG", size: tuple[int, int] = (120, 80), **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=format, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header claims ``width`` x ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9))
        + png_chunk(b"IEND", b"")
    )


def zip_archive() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return buffer.getvalue()


# --- the form -----------------------------------------------------------------------------------


def card_request(email: str, **changes: str) -> dict[str, str]:
    fields = {
        "topic": "recover_card_code",
        "name": "Mario Rossi",
        "email": email,
        "purchase_date": "2026-01-10",
        "message": "I lost the card; the app still shows the license.",
    }
    fields.update(changes)
    return fields


def send(
    visitor: Browser,
    fields: dict[str, str],
    files: list[File] = (),  # type: ignore[assignment]
    *,
    path: str = SUPPORT,
    form_page: str = CARD_FORM,
    token: str | None = None,
) -> httpx.Response:
    """Post a form with files (multipart, as a browser does), with this browser's token."""
    data = dict(fields)
    data[CSRF_FIELD] = visitor.csrf_token(form_page) if token is None else token
    parts = [("screenshot", file) for file in files] or [
        ("screenshot", ("", b"", "application/octet-stream"))  # no file chosen
    ]
    return visitor.client.post(path, data=data, files=parts)


def field_error(page: str, field: str) -> str:
    """The message shown beside a field (its ``{field}-error`` paragraph)."""
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error beside {field}"
    return match.group(1).strip()


# --- what is stored -----------------------------------------------------------------------------


def counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (SupportRequest, SupportMessage, Attachment, AttachmentContent, Job)
        }


def follow_link(database: Database, keyring: Keyring, email: str) -> str:
    """The path of the follow link in the confirmation queued for ``email``."""
    messages = outbox(database, email, "support_request_received")
    assert messages, f"no confirmation for {email}"
    text, _ = bodies(keyring, messages[-1])
    match = FOLLOW_LINK.search(text)
    assert match, text
    return match.group(1)
