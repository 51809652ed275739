"""Screenshots attached to a support request, as a browser posts them: what is refused
(each with its message beside the file field, and then nothing at all is stored), what is
kept (a fresh PNG without metadata), and how it is kept (encrypted, in the database, with
the transaction that adds it)."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from licensor.config import Settings
from licensor.db import Database
from licensor.errors import (
    AttachmentDamaged,
    AttachmentPixels,
    AttachmentPolyglot,
    AttachmentTooLarge,
    AttachmentType,
    TooManyAttachments,
)
from licensor.keys import Keyring
from licensor.models import Attachment, AttachmentContent
from licensor.support.attachments import load_attachment
from licensor.support.uploads import MAX_FILE_BYTES, Upload, check_screenshot, check_uploads
from tests.accounts.factories import Browser, fresh_email
from tests.conftest import OpenUnit
from tests.support.uploads import (
    File,
    card_request,
    counts,
    field_error,
    license_details_png,
    picture,
    png_declaring,
    send,
    zip_archive,
)


def noisy_png(size: int) -> bytes:
    """A real PNG of about ``size`` bytes (random pixels do not compress)."""
    side = int((size / 3) ** 0.5) + 1
    image = Image.frombytes("RGB", (side, side), secrets.token_bytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


ABUSE: dict[str, tuple[list[File], str]] = {
    "oversized": (
        [("big.png", noisy_png(MAX_FILE_BYTES + 100_000), "image/png")],
        "larger than 5 MB",
    ),
    "a GIF": ([("anim.gif", picture("GIF"), "image/gif")], "not a PNG, JPEG or WebP image"),
    "a PDF": (
        [("card.png", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "image/png")],
        "not a PNG, JPEG or WebP image",
    ),
    "HTML named .png": (
        [("shot.png", b"<!doctype html><script>alert(1)</script>", "image/png")],
        "not a PNG, JPEG or WebP image",
    ),
    "a PNG with a ZIP after it": (
        [("shot.png", picture("PNG") + zip_archive(), "image/png")],
        "other data after the image",
    ),
    "a JPEG with HTML after it": (
        [("shot.jpg", picture("JPEG") + b"<html><script>1</script></html>", "image/jpeg")],
        "other data after the image",
    ),
    "a decompression bomb": (
        [("bomb.png", png_declaring(20_000, 20_000), "image/png")],
        "too large (more than 25 megapixels)",
    ),
    "a truncated PNG": (
        [("half.png", picture("PNG", (400, 300))[:300], "image/png")],
        "damaged or incomplete",
    ),
    "four files": (
        [(f"shot{n}.png", picture("PNG"), "image/png") for n in range(4)],
        "at most 3 screenshots",
    ),
}


@pytest.mark.parametrize("case", list(ABUSE))
def test_a_refused_upload_is_explained_beside_the_file_field_and_nothing_is_stored(
    case: str, visitor: Browser, database: Database, tmp_path: Path
) -> None:
    files, message = ABUSE[case]
    if case != "four files":  # one good screenshot beside the bad one: it goes too
        files = [("good.png", license_details_png(tmp_path)[1], "image/png"), *files]
    email = fresh_email()

    response = send(visitor, card_request(email, name="Anna Bianchi"), files)

    assert response.status_code == 422, response.text
    assert message in field_error(response.text, "screenshot")
    assert "choose them again" in response.text
    assert 'value="Anna Bianchi"' in response.text  # the typed values are kept
    assert f'value="{email}"' in response.text
    assert counts(database) == {
        "support_requests": 0,
        "support_messages": 0,
        "support_attachments": 0,
        "attachment_contents": 0,
        "jobs": 0,
    }


def test_the_refused_file_is_named_in_the_message(visitor: Browser, database: Database) -> None:
    response = send(
        visitor, card_request(fresh_email()), [("holiday.gif", picture("GIF"), "image/png")]
    )

    assert field_error(response.text, "screenshot").startswith("holiday.gif: ")


def test_a_body_larger_than_three_full_files_is_refused_before_it_is_read(
    visitor: Browser, database: Database
) -> None:
    token = visitor.csrf_token("/support?topic=recover_card_code")
    huge = b"\x89PNG\r\n\x1a\n" + b"\x00" * (3 * MAX_FILE_BYTES + 600_000)

    response = visitor.client.post(
        "/support",
        data={**card_request(fresh_email()), "csrf_token": token},
        files=[("screenshot", ("huge.png", huge, "image/png"))],
    )

    assert response.status_code == 413
    assert "at most 3 screenshots of 5 MB each" in response.text
    assert counts(database)["support_requests"] == 0
    assert counts(database)["attachment_contents"] == 0


def test_what_is_kept_is_a_fresh_png_encrypted_at_rest_without_the_metadata(
    visitor: Browser, database: Database, settings: Settings, keyring: Keyring
) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "PhotoEditor 9"  # Software
    jpeg = picture("JPEG", (320, 200), exif=exif.tobytes())
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "home address: Via Roma 1")
    png = picture("PNG", (300, 180), pnginfo=info)
    webp = picture("WEBP", (200, 100))
    assert b"SecretCam" in jpeg
    assert b"Via Roma" in png

    response = send(
        visitor,
        card_request(fresh_email()),
        [
            ("photo.jpg", jpeg, "image/jpeg"),
            ("note.png", png, "image/png"),
            ("../../etc/shot.webp", webp, "image/webp"),
        ],
    )

    assert response.status_code == 200, response.text
    with database.transaction() as session:
        attachments = list(session.scalars(select(Attachment).order_by(Attachment.id)))
        contents = dict(
            session.execute(
                select(AttachmentContent.attachment_id, AttachmentContent.ciphertext)
            ).all()
        )
        stored = [
            load_attachment(session, settings, keyring, attachment) for attachment in attachments
        ]
    assert [a.filename for a in attachments] == ["photo.jpg", "note.png", "shot.webp"]
    assert [(a.width, a.height) for a in attachments] == [(320, 200), (300, 180), (200, 100)]
    assert sorted(contents) == [a.id for a in attachments]
    for attachment, png in zip(attachments, stored, strict=True):
        at_rest = contents[attachment.id]
        assert b"\x89PNG" not in at_rest  # encrypted at rest
        assert b"SecretCam" not in at_rest
        assert b"Via Roma" not in at_rest
        assert attachment.content_type == "image/png"
        assert attachment.size_bytes == len(png)
        reopened = Image.open(io.BytesIO(png))
        assert reopened.format == "PNG"
        assert reopened.size == (attachment.width, attachment.height)
        assert b"SecretCam" not in png
        assert b"PhotoEditor" not in png
        assert b"Via Roma" not in png
        assert b"tEXt" not in png
        assert b"eXIf" not in png
        assert not reopened.info.get("exif")
        assert "Comment" not in reopened.info
    assert not (settings.var_dir / "attachments").exists()  # nothing on this host's disk


def test_a_failed_transaction_leaves_no_contents(
    database: Database, open_unit: OpenUnit, tmp_path: Path
) -> None:
    from licensor.support.service import RequestForm

    _, png = license_details_png(tmp_path)
    uploads = check_uploads([Upload("shot.png", png)])

    written: list[int] = []

    def open_then_crash() -> None:
        with open_unit() as unit:
            unit.support.open_request(
                RequestForm(**card_request(fresh_email())),
                uploads,
                account=None,
                language="en",
                actor="test",
            )
            written.append(len(unit.session.scalars(select(AttachmentContent)).all()))
            raise RuntimeError("the commit never happens")

    with pytest.raises(RuntimeError):
        open_then_crash()

    assert written == [1]  # the contents were there during the transaction
    assert counts(database)["attachment_contents"] == 0
    assert counts(database)["support_attachments"] == 0


# --- the checks themselves --------------------------------------------------------------------


def test_the_type_is_told_by_the_bytes_not_the_name() -> None:
    assert check_screenshot(Upload("picture.gif", picture("PNG"))).source_type == "image/png"
    assert check_screenshot(Upload("x.txt", picture("JPEG"))).source_type == "image/jpeg"
    assert check_screenshot(Upload("x", picture("WEBP"))).source_type == "image/webp"
    with pytest.raises(AttachmentType):
        check_screenshot(Upload("x.png", picture("BMP")))


def test_every_refusal_has_its_stable_code() -> None:
    def refusal(upload: Upload) -> str:
        checked = check_uploads([upload])
        assert checked.refusal is not None
        assert not checked.screenshots
        return checked.refusal.code

    assert refusal(Upload("a.png", b"\x00" * (MAX_FILE_BYTES + 1))) == AttachmentTooLarge.code
    assert refusal(Upload("a.png", b"GIF89a")) == AttachmentType.code
    assert refusal(Upload("a.png", png_declaring(6000, 6000))) == AttachmentPixels.code
    assert refusal(Upload("a.png", picture("PNG")[:-20])) == AttachmentDamaged.code
    assert refusal(Upload("a.webp", picture("WEBP") + b"PK\x03\x04")) == AttachmentPolyglot.code
    many = check_uploads([Upload(f"{n}.png", picture("PNG")) for n in range(4)])
    assert many.refusal is not None
    assert many.refusal.code == TooManyAttachments.code


def test_a_progressive_jpeg_and_zero_padding_are_accepted() -> None:
    progressive = picture("JPEG", (300, 200), progressive=True)
    assert check_screenshot(Upload("p.jpg", progressive)).width == 300
    assert check_screenshot(Upload("z.png", picture("PNG") + b"\x00" * 64)).width == 120


def test_an_empty_file_field_is_no_attachment() -> None:
    assert check_uploads([Upload("", b"")]).screenshots == ()
