"""Reading the license key from a screenshot of the License details window, with the real
Tesseract (Debian's tesseract-ocr, which .ci/run installs) on pictures drawn by the app's
own renderer."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from licensor.errors import LicensorError
from licensor.licensing.formats import is_valid_license_key, license_key_from_data
from licensor.support.ocr import (
    KeyReading,
    OcrUnavailable,
    ScreenshotUnreadable,
    read_license_key,
)
from licensor_app.screenshot import render_license_details

KEY = license_key_from_data(bytes.fromhex("27386F19718687F76B07738B5F"))


def screenshot(
    license_key: str,
    *,
    theme: str = "light",
    language: str = "en",
    scale: float = 1.0,
    image_format: str = "PNG",
    quality: int = 90,
    mono_font_path: Path | None = None,
) -> bytes:
    image = render_license_details(
        license_key,
        "LIC-PP2T-PPD4",
        "Plus",
        date(2027, 3, 1),
        theme=theme,
        language=language,
        scale=scale,
        mono_font_path=mono_font_path,
    )
    buffer = io.BytesIO()
    if image_format == "PNG":
        image.save(buffer, "PNG")
    else:
        image.save(buffer, image_format, quality=quality)
    return buffer.getvalue()


def digits(text: str) -> str:
    """What was read, as 32 digits: upper case, no spaces, the letter O as zero."""
    return "".join(text.split()).upper().replace("O", "0")


@pytest.mark.parametrize(
    ("theme", "language", "scale"),
    [("light", "en", 1.0), ("dark", "it", 1.0), ("light", "it", 1.5), ("dark", "en", 2.0)],
)
def test_the_key_in_a_screenshot_is_read_and_verified(
    theme: str, language: str, scale: float
) -> None:
    reading = read_license_key(screenshot(KEY, theme=theme, language=language, scale=scale))

    assert reading.verified
    assert reading.license_key == KEY
    assert digits(reading.text) == KEY
    assert 0 < reading.seconds < 10
    assert reading.passes >= 1


def test_a_leading_4_in_the_apps_own_picture_is_not_taken_for_an_a() -> None:
    # The app's default window (light, scale 1, DejaVu Sans Mono): larger line passes read
    # this key's first digit as an A, every time.
    key = "4CCF670FA0931752E76A7A41ED2FD93F"
    assert is_valid_license_key(key)

    reading = read_license_key(screenshot(key))

    assert reading.verified
    assert reading.license_key == key


def test_the_key_in_a_lossy_jpeg_is_read_and_verified() -> None:
    other_key = license_key_from_data(bytes.fromhex("556CA11FFCBEF1870A2B3C4D5E"))

    reading = read_license_key(screenshot(other_key, image_format="JPEG", quality=45))

    assert reading == KeyReading(
        reading.text, other_key, True, reading.seconds, reading.passes, reading.checks
    )


# Monospace fonts a customer's desktop may draw the key in besides DejaVu Sans Mono (the
# app uses the system's): Debian's packages, which .ci/run installs.
OTHER_MONO_FONTS = {
    "liberation-mono": (
        Path("/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf"),
        "fonts-liberation2",
    ),
    "noto-mono": (Path("/usr/share/fonts/truetype/noto/NotoMono-Regular.ttf"), "fonts-noto-mono"),
}


@pytest.mark.parametrize("font", sorted(OTHER_MONO_FONTS))
@pytest.mark.parametrize(
    ("theme", "image_format", "scale"), [("light", "PNG", 1.0), ("dark", "JPEG", 1.25)]
)
def test_the_key_in_another_monospace_font_is_read_and_verified(
    font: str, theme: str, image_format: str, scale: float
) -> None:
    path, package = OTHER_MONO_FONTS[font]
    if not path.is_file():
        pytest.skip(f"{path} is not installed (Debian's {package}; .ci/run installs it)")

    reading = read_license_key(
        screenshot(
            KEY,
            theme=theme,
            image_format=image_format,
            quality=70,
            scale=scale,
            mono_font_path=path,
        )
    )

    assert reading.verified
    assert reading.license_key == KEY


def test_a_key_whose_check_value_fails_is_read_but_never_verified() -> None:
    # One digit changed, as on a doctored or corrupted picture: the check value fails.
    position = 9
    changed = "E" if KEY[position] != "E" else "3"
    altered = KEY[:position] + changed + KEY[position + 1 :]
    assert not is_valid_license_key(altered)

    reading = read_license_key(screenshot(altered, theme="dark"))

    assert not reading.verified
    assert reading.license_key is None
    assert digits(reading.text) == altered  # the desk shows what is on the picture


def test_a_blank_image_reads_nothing() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (680, 360), (250, 250, 250)).save(buffer, "PNG")

    reading = read_license_key(buffer.getvalue())

    assert reading.text == ""
    assert reading.license_key is None
    assert not reading.verified


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["empty", "text", "truncated-png"],
)
def test_bytes_that_are_not_an_image_are_refused(data: bytes) -> None:
    with pytest.raises(ScreenshotUnreadable) as raised:
        read_license_key(data)

    assert isinstance(raised.value, LicensorError)
    assert raised.value.code == "screenshot_unreadable"


def test_a_missing_tesseract_names_the_debian_package() -> None:
    with pytest.raises(OcrUnavailable, match="tesseract-ocr"):
        read_license_key(screenshot(KEY), tesseract="/nonexistent/tesseract")


def test_a_picture_far_larger_than_a_window_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000), 1).save(buffer, "PNG")

    with pytest.raises(ScreenshotUnreadable, match="too large"):
        read_license_key(buffer.getvalue())
