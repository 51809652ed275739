"""The License details picture: what varies (theme, scale, language, fonts, format) really
varies, and the key is always drawn where a reader looks for it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw

from licensor_app import screenshot
from licensor_app.screenshot import (
    THEMES,
    Theme,
    render_license_details,
    save_license_details,
)

KEY = "27386F19718687F76B07738B5FC726B3"
DETAILS = (KEY, "LIC-PP2T-PPD4", "Plus", date(2027, 3, 1))
MONO_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the renderer draws, in order."""
    texts: list[str] = []
    original = ImageDraw.ImageDraw.text

    def spy(self: ImageDraw.ImageDraw, xy: Any, text: Any, *args: Any, **kwargs: Any) -> None:
        texts.append(str(text))
        original(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", spy)
    return texts


def key_region(image: Image.Image, **options: object) -> tuple[int, int, int, int]:
    """Where the key is drawn: what changes when only the key changes."""
    other = render_license_details("0" * 32, *DETAILS[1:], **options)  # type: ignore[arg-type]
    box = ImageChops.difference(image, other).getbbox()
    assert box is not None
    return box


def test_light_and_dark_themes_have_their_own_background() -> None:
    light = render_license_details(*DETAILS, theme="light")
    dark = render_license_details(*DETAILS, theme="dark")

    assert light.mode == dark.mode == "RGB"
    assert light.size == dark.size
    corner = (light.width // 2, light.height - 3)
    assert light.getpixel(corner) == THEMES["light"].background
    assert dark.getpixel(corner) == THEMES["dark"].background


def test_a_theme_of_ones_own() -> None:
    sepia = Theme(
        background=(240, 230, 210),
        title_bar=(220, 205, 180),
        title_text=(60, 40, 20),
        text=(60, 40, 20),
        muted=(110, 90, 70),
        key_background=(250, 245, 235),
        key_text=(40, 20, 0),
        border=(180, 160, 130),
        button=(120, 80, 40),
        button_text=(255, 255, 255),
    )
    image = render_license_details(*DETAILS, theme=sepia)
    assert image.getpixel((image.width // 2, image.height - 3)) == sepia.background


def test_scale_two_doubles_the_picture_and_the_key() -> None:
    normal = render_license_details(*DETAILS)
    double = render_license_details(*DETAILS, scale=2)

    assert abs(double.width - 2 * normal.width) <= 2
    assert abs(double.height - 2 * normal.height) <= normal.height * 0.03  # font metrics round
    left, _top, right, _bottom = key_region(normal)
    left2, _top2, right2, _bottom2 = key_region(double, scale=2)
    assert abs((right2 - left2) - 2 * (right - left)) <= 6
    with pytest.raises(ValueError, match="scale"):
        render_license_details(*DETAILS, scale=0)


def test_the_key_is_one_large_line_across_the_window() -> None:
    image = render_license_details(*DETAILS)
    left, top, right, bottom = key_region(image)

    assert right - left > image.width * 0.6
    assert 14 <= bottom - top <= 40  # one line of about 24 px digits
    key_text = THEMES["light"].key_text
    crop = image.crop((left, top, right, bottom))
    assert key_text in {colour for _count, colour in crop.getcolors(maxcolors=1 << 16) or []}


def test_the_italian_window_has_its_italian_title(drawn: list[str]) -> None:
    english = render_license_details(*DETAILS)
    drawn.clear()
    italian = render_license_details(*DETAILS, language="it")
    title_bar = (0, 0, english.width // 2, screenshot.TITLE_BAR)
    assert ImageChops.difference(english.crop(title_bar), italian.crop(title_bar)).getbbox()

    assert drawn[0] == "Dettagli licenza"
    for words in ("Chiave di licenza", "ID pubblico", "Piano", "Scadenza", "1 marzo 2027"):
        assert words in drawn
    assert "2738 6F19 7186 87F7 6B07 738B 5FC7 26B3" in drawn


def test_fonts_can_be_chosen_and_pillow_is_the_last_resort(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    default = render_license_details(*DETAILS)
    if MONO_BOLD.is_file():
        bold = render_license_details(*DETAILS, mono_font_path=MONO_BOLD)
        assert ImageChops.difference(default, bold).getbbox() is not None

    monkeypatch.setattr(screenshot, "DEJAVU_DIR", tmp_path / "no-fonts-here")
    fallback = render_license_details(*DETAILS)
    assert fallback.width >= 600
    key_region(fallback)  # the key is still drawn


def test_saving_follows_the_suffix_and_the_quality(tmp_path: Path) -> None:
    png = save_license_details(tmp_path / "a" / "details.png", *DETAILS)
    best = save_license_details(tmp_path / "best.jpg", *DETAILS, quality=95)
    worst = save_license_details(tmp_path / "worst.jpg", *DETAILS, quality=10)

    with Image.open(png) as image:
        assert image.format == "PNG"
    with Image.open(best) as image:
        assert image.format == "JPEG"
    assert worst.stat().st_size < best.stat().st_size


def test_a_never_expiring_license_says_so(drawn: list[str]) -> None:
    render_license_details(KEY, "LIC-PP2T-PPD4", "Plus", None, product="Licensor Demo")
    assert "No expiry date" in drawn
    assert "Licensor Demo" in drawn
