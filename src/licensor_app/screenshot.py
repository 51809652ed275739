"""A picture of the License details window, as the customer attaches it to a support request.

The support desk reads the license key back from such pictures (OCR), so the key is drawn
large, in a monospace font, in groups of four on a plain background. Everything that
varies between customers' screens is a parameter (language, theme, scale, fonts, file
format and JPEG quality), so the same function also makes the desk's test corpus::

    image = render_license_details(
        "27386F19718687F76B07738B5FC726B3", "LIC-PP2T-PPD4", "Plus", date(2027, 3, 1),
        language="it", theme="dark", scale=1.5,
    )
    save_license_details("details.jpg", ..., quality=70)

Pure: no terminal, no network, no state; only Pillow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from licensor_app.i18n import Translator, format_date
from licensor_client import format_license_key

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
SANS = "DejaVuSans.ttf"
SANS_BOLD = "DejaVuSans-Bold.ttf"
MONO = "DejaVuSansMono.ttf"

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    """The window's colours; ``THEMES`` has the two the app uses, a corpus may add more."""

    background: Colour
    title_bar: Colour
    title_text: Colour
    text: Colour
    muted: Colour
    key_background: Colour
    key_text: Colour
    border: Colour
    button: Colour
    button_text: Colour


THEMES: dict[str, Theme] = {
    "light": Theme(
        background=(250, 250, 250),
        title_bar=(226, 230, 236),
        title_text=(30, 34, 40),
        text=(30, 34, 40),
        muted=(96, 104, 116),
        key_background=(255, 255, 255),
        key_text=(0, 0, 0),
        border=(196, 202, 210),
        button=(0, 110, 95),
        button_text=(255, 255, 255),
    ),
    "dark": Theme(
        background=(32, 35, 40),
        title_bar=(22, 24, 28),
        title_text=(232, 234, 237),
        text=(232, 234, 237),
        muted=(160, 166, 176),
        key_background=(18, 20, 23),
        key_text=(255, 255, 255),
        border=(70, 76, 86),
        button=(0, 150, 130),
        button_text=(255, 255, 255),
    ),
}

# Sizes at scale 1, in pixels.
WIDTH = 680
PADDING = 28
TITLE_BAR = 40
TITLE_SIZE = 16
LABEL_SIZE = 14
VALUE_SIZE = 15
KEY_SIZE = 24
ROW_GAP = 12


def load_font(path: str | Path | None, default_name: str, size: int) -> Font:
    """``path`` when given; else DejaVu when installed; else Pillow's own font."""
    if path is not None:
        return ImageFont.truetype(str(path), size)
    bundled = DEJAVU_DIR / default_name
    if bundled.is_file():
        return ImageFont.truetype(str(bundled), size)
    return ImageFont.load_default(size=size)


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right - left), int(bottom - top)


def _line_height(font: Font) -> int:
    _left, top, _right, bottom = font.getbbox("Hg|ÀÈgjpqy")
    return int(bottom - min(0, top))


def render_license_details(
    license_key: str,
    public_id: str,
    plan: str,
    expires_at: date | datetime | None,
    *,
    product: str = "",
    language: str = "en",
    theme: str | Theme = "light",
    scale: float = 1.0,
    font_path: str | Path | None = None,
    mono_font_path: str | Path | None = None,
) -> Image.Image:
    """The License details window as an RGB image.

    ``font_path`` sets the font of the title and labels, ``mono_font_path`` the monospace
    font of the license key; ``scale`` multiplies every size (2.0 for a HiDPI screen);
    ``language`` is ``en`` or ``it``; ``theme`` is a name in ``THEMES`` or a ``Theme``.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    colours = THEMES[theme] if isinstance(theme, str) else theme
    _ = Translator(language)

    def px(value: float) -> int:
        return max(1, round(value * scale))

    title_font = load_font(font_path, SANS_BOLD, px(TITLE_SIZE))
    label_font = load_font(font_path, SANS, px(LABEL_SIZE))
    value_font = load_font(font_path, SANS_BOLD, px(VALUE_SIZE))
    key_font = load_font(mono_font_path, MONO, px(KEY_SIZE))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    title = _("License details")
    grouped = format_license_key(license_key.replace(" ", "").upper())
    rows: Sequence[tuple[str, str]] = (
        (_("Public ID"), public_id),
        (_("Plan"), plan),
        (_("Expires"), format_date(expires_at, language) if expires_at else _("No expiry date")),
    )
    buttons = (_("Copy"), _("Save screenshot"))

    padding = px(PADDING)
    key_width, _key_height = _text_size(probe, grouped, key_font)
    key_box_padding = px(14)
    key_inset = px(22)  # left and right of the key inside its box
    label_column = max(_text_size(probe, label, label_font)[0] for label, _v in rows) + px(24)
    value_width = max(_text_size(probe, value, value_font)[0] for _l, value in rows)
    width = max(
        px(WIDTH),
        key_width + 2 * (padding + key_inset),
        label_column + value_width + 2 * padding,
    )

    label_line, value_line = _line_height(label_font), _line_height(value_font)
    key_line = _line_height(key_font)
    title_bar = px(TITLE_BAR)
    button_height = px(34)
    height = (
        title_bar
        + padding
        + (_line_height(label_font) + px(14) if product else 0)
        + label_line
        + px(8)
        + key_line
        + 2 * key_box_padding
        + px(20)
        + len(rows) * (max(label_line, value_line) + px(ROW_GAP))
        + px(12)
        + button_height
        + padding
    )

    image = Image.new("RGB", (width, height), colours.background)
    draw = ImageDraw.Draw(image)

    # Title bar with a close mark, the way a desktop window looks.
    draw.rectangle((0, 0, width, title_bar), fill=colours.title_bar)
    draw.line((0, title_bar, width, title_bar), fill=colours.border, width=px(1))
    draw.text(
        (padding, (title_bar - _line_height(title_font)) // 2),
        title,
        font=title_font,
        fill=colours.title_text,
    )
    cross = px(7)
    centre_x, centre_y = width - padding, title_bar // 2
    for direction in (1, -1):
        draw.line(
            (
                centre_x - cross,
                centre_y - direction * cross,
                centre_x + cross,
                centre_y + cross * direction,
            ),
            fill=colours.muted,
            width=px(2),
        )

    y = title_bar + padding
    if product:
        draw.text((padding, y), product, font=label_font, fill=colours.muted)
        y += _line_height(label_font) + px(14)

    draw.text((padding, y), _("License key"), font=label_font, fill=colours.muted)
    y += label_line + px(8)
    box = (padding, y, width - padding, y + key_line + 2 * key_box_padding)
    draw.rounded_rectangle(
        box, radius=px(6), fill=colours.key_background, outline=colours.border, width=px(1)
    )
    draw.text(
        (padding + key_inset, y + key_box_padding),
        grouped,
        font=key_font,
        fill=colours.key_text,
    )
    y = box[3] + px(20)

    row_height = max(label_line, value_line) + px(ROW_GAP)
    for label, value in rows:
        draw.text((padding, y), label, font=label_font, fill=colours.muted)
        draw.text((padding + label_column, y), value, font=value_font, fill=colours.text)
        y += row_height

    y += px(12)
    x = padding
    for caption in buttons:
        caption_width, _caption_height = _text_size(probe, caption, label_font)
        right = x + caption_width + px(32)
        draw.rounded_rectangle((x, y, right, y + button_height), radius=px(5), fill=colours.button)
        draw.text(
            (x + px(16), y + (button_height - label_line) // 2),
            caption,
            font=label_font,
            fill=colours.button_text,
        )
        x = right + px(12)
    return image


def save_license_details(
    path: str | Path,
    license_key: str,
    public_id: str,
    plan: str,
    expires_at: date | datetime | None,
    *,
    quality: int = 90,
    product: str = "",
    language: str = "en",
    theme: str | Theme = "light",
    scale: float = 1.0,
    font_path: str | Path | None = None,
    mono_font_path: str | Path | None = None,
) -> Path:
    """Render and save; the format follows the suffix (``.png``, ``.jpg``, ``.webp``),
    ``quality`` applies to the lossy ones. Returns the path written."""
    image = render_license_details(
        license_key,
        public_id,
        plan,
        expires_at,
        product=product,
        language=language,
        theme=theme,
        scale=scale,
        font_path=font_path,
        mono_font_path=mono_font_path,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        image.save(target, "JPEG", quality=quality)
    elif suffix == ".webp":
        image.save(target, "WEBP", quality=quality)
    else:
        image.save(target, "PNG")
    return target
