"""Pictures of a license key as customers really send them, drawn with Pillow alone.

Independent of the reference app's renderer (``licensor_app.screenshot``) on purpose: its
own layouts (an e-mail, a card, a table of details), its own fonts (proportional, serif
and monospace, from Debian's fonts-dejavu-core and fonts-liberation2) and its own ways of
writing a key (grouped by spaces or dashes, compact, lower case, wrapped over two lines).
A "photo" is a screen photographed by a phone: turned 3 to 5 degrees, in perspective,
blurred, with noise or moiré, lit unevenly and saved as a JPEG of quality 15 to 40.

Every picture may also hold hex strings that are not the key (an MD5, which has 32 hex
digits like a key, SHA-1 and SHA-256 hashes, a build number, a GUID, another key one
digit off so its check value fails); the "decoys only" kind holds no key at all, and the
reader must read none. Seeded: the same seed draws the same pictures, byte for byte.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from licensor.licensing.formats import license_key_from_data

FONTS_DIR = Path("/usr/share/fonts/truetype")
# Debian's fonts-dejavu-core and fonts-liberation2 (scripts/system-packages.sh).
MONO_FONTS = ["dejavu/DejaVuSansMono.ttf", "liberation2/LiberationMono-Regular.ttf"]
SANS_FONTS = [
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSans-Bold.ttf",
    "liberation2/LiberationSans-Regular.ttf",
    "liberation2/LiberationSans-Bold.ttf",
]
SERIF_FONTS = [
    "dejavu/DejaVuSerif.ttf",
    "dejavu/DejaVuSerif-Bold.ttf",
    "liberation2/LiberationSerif-Regular.ttf",
]
DEBIAN_FONT_PACKAGES = "fonts-dejavu-core fonts-liberation2"

KINDS = (
    "wrapped",
    "serif",
    "proportional",
    "lowercase",
    "dark",
    "light",
    "scaled",
    "photo",
    "decoys",
    "decoys only",
)

Colour = tuple[int, int, int]
# (background, text, muted): a few light and dark themes of mail clients and desktops.
LIGHT_THEMES: list[tuple[Colour, Colour, Colour]] = [
    ((255, 255, 255), (20, 20, 20), (110, 110, 110)),
    ((246, 246, 240), (40, 40, 60), (120, 120, 130)),
    ((236, 242, 250), (10, 30, 70), (90, 100, 130)),
]
DARK_THEMES: list[tuple[Colour, Colour, Colour]] = [
    ((30, 30, 30), (230, 230, 230), (150, 150, 150)),
    ((18, 24, 38), (200, 220, 255), (120, 140, 170)),
    ((40, 44, 52), (171, 178, 191), (110, 118, 130)),
]


@dataclass(frozen=True)
class Picture:
    """One picture: the key a reader must find (None: the picture holds none)."""

    kind: str
    license_key: str | None
    data: bytes
    description: str


def installed(names: list[str]) -> list[str]:
    """The fonts of ``names`` installed under FONTS_DIR."""
    return [name for name in names if (FONTS_DIR / name).is_file()]


def random_key(rng: random.Random) -> str:
    return license_key_from_data(rng.randbytes(13))


def one_digit_off(license_key: str, rng: random.Random) -> str:
    """The key with one digit changed: its check value fails."""
    position = rng.randrange(len(license_key))
    digit = rng.choice([d for d in "0123456789ABCDEF" if d != license_key[position]])
    return license_key[:position] + digit + license_key[position + 1 :]


def written(license_key: str, rng: random.Random, *, lower: bool = False) -> str:
    """The key as a page may write it: groups of four by spaces or dashes, or compact."""
    groups = [license_key[start : start + 4] for start in range(0, len(license_key), 4)]
    text = rng.choice([" ".join(groups), " ".join(groups), "-".join(groups), license_key])
    return text.lower() if lower else text


def wrapped(license_key: str, rng: random.Random, *, lower: bool = False) -> list[str]:
    """The key over two lines: 16 digits each, or grouped and split at a group boundary."""
    text = license_key.lower() if lower else license_key
    if rng.random() < 0.4:
        return [text[:16], text[16:]]
    groups = [text[start : start + 4] for start in range(0, len(text), 4)]
    split = rng.choice([3, 4, 5])
    separator = rng.choice([" ", "-"])
    first = separator.join(groups[:split]) + ("-" if separator == "-" else "")
    return [first, separator.join(groups[split:])]


def _hex(rng: random.Random, digits: int) -> str:
    return "".join(rng.choices("0123456789abcdef", k=digits))


def decoy_lines(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(label, value) lines of hex that are not the key."""
    guid = "-".join(_hex(rng, n) for n in (8, 4, 4, 4, 12))
    md5 = _hex(rng, 32)
    md5 = md5.upper() if rng.random() < 0.5 else md5
    if rng.random() < 0.3:  # an MD5 grouped by four, exactly like a key
        md5 = " ".join(md5[start : start + 4] for start in range(0, 32, 4)).upper()
    choices = [
        ("MD5", md5),
        ("SHA-1", _hex(rng, 40)),
        ("SHA-256", _hex(rng, 64)),
        (
            "Build",
            f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(1000, 9999)} ({_hex(rng, 7)})",
        ),
        ("Installation ID", "{" + guid.upper() + "}"),
        ("Previous key", written(one_digit_off(random_key(rng), rng), rng)),
        ("Checksum", _hex(rng, 32)),
    ]
    rng.shuffle(choices)
    return choices[:count]


class Canvas:
    """A page of text lines drawn top to bottom, its height grown as lines are added."""

    def __init__(self, width: int, theme: tuple[Colour, Colour, Colour], scale: float) -> None:
        self.width = width
        self.background, self.text, self.muted = theme
        self.scale = scale
        self.rows: list[tuple[list[tuple[str, ImageFont.FreeTypeFont, Colour, int]], int]] = []

    def font(self, path: str, size: float) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(FONTS_DIR / path), max(8, round(size * self.scale)))

    def row(
        self, *pieces: tuple[str, ImageFont.FreeTypeFont, Colour, int], gap: float = 10
    ) -> None:
        """Pieces drawn on one line, each at its x offset (pixels at scale 1)."""
        self.rows.append((list(pieces), round(gap * self.scale)))

    def render(self) -> Image.Image:
        margin = round(24 * self.scale)
        heights: list[int] = []
        for pieces, gap in self.rows:
            tallest = max(round(font.getbbox("Ag0")[3]) for _text, font, _colour, _x in pieces)
            heights.append(tallest + gap)
        height = 2 * margin + sum(heights)
        # Never narrower than its longest line: a key cut off at the edge is no key.
        width = max(
            [self.width]
            + [
                2 * margin + round(x * self.scale) + round(font.getlength(text))
                for pieces, _gap in self.rows
                for text, font, _colour, x in pieces
            ]
        )
        image = Image.new("RGB", (width, height), self.background)
        draw = ImageDraw.Draw(image)
        y = margin
        for (pieces, _gap), row_height in zip(self.rows, heights, strict=True):
            for text, font, colour, x in pieces:
                draw.text((margin + round(x * self.scale), y), text, font=font, fill=colour)
            y += row_height
        return image


def draw_page(
    rng: random.Random,
    *,
    key_lines: list[str],
    key_font: str,
    label_font: str,
    theme: tuple[Colour, Colour, Colour],
    scale: float,
    decoys: int,
) -> Image.Image:
    """A page in one of three layouts, the key (if any) on ``key_lines``."""
    layout = rng.choice(["email", "card", "table"])
    key_size = rng.choice([15, 16, 18, 20, 22])
    width = round(rng.randint(620, 820) * scale)
    canvas = Canvas(width, theme, scale)
    label = canvas.font(label_font, key_size - 2)
    small = canvas.font(label_font, key_size - 4)
    key = canvas.font(key_font, key_size)
    hashes = canvas.font(rng.choice(MONO_FONTS + SANS_FONTS), key_size - 5)
    product = rng.choice(["PhotoMagic Pro 4", "Ledgerly Desktop", "SoundForge Studio"])
    order = f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}"
    extra = decoy_lines(rng, decoys)
    if layout == "email":
        canvas.row(
            (
                f"Your {product} order {order}",
                canvas.font(label_font, key_size + 2),
                canvas.text,
                0,
            ),
            gap=18,
        )
        canvas.row(("Hello, thank you for your purchase.", label, canvas.text, 0))
        if key_lines:
            canvas.row(("Your license key:", label, canvas.text, 0))
            for line in key_lines:
                canvas.row((line, key, canvas.text, 20), gap=6)
        for name, value in extra:
            canvas.row((f"{name}: {value}", hashes, canvas.muted, 0), gap=6)
        canvas.row(("Keep this message: you need the key to activate.", small, canvas.muted, 0))
    else:
        title = "License details" if layout == "card" else "About " + product
        canvas.row((title, canvas.font(label_font, key_size + 4), canvas.text, 0), gap=16)
        value_x = rng.choice([150, 170, 190])
        canvas.row(("Product", label, canvas.muted, 0), (product, label, canvas.text, value_x))
        canvas.row(("Order", label, canvas.muted, 0), (order, label, canvas.text, value_x))
        for number, line in enumerate(key_lines):
            name = "License key" if number == 0 else ""
            canvas.row((name, label, canvas.muted, 0), (line, key, canvas.text, value_x), gap=6)
        for name, value in extra:
            canvas.row((name, small, canvas.muted, 0), (value, hashes, canvas.muted, value_x))
        canvas.row(("Valid until 2027-05-31", small, canvas.muted, 0), gap=4)
    return canvas.render()


def photographed(image: Image.Image, rng: random.Random) -> Image.Image:
    """The screen as a phone photographs it: perspective, a slight turn, blur, moiré or
    noise, uneven light."""
    width, height = image.size

    # Perspective: each corner moved inwards by up to 4 % (the phone held askew).
    def jitter(limit: float) -> float:
        return rng.uniform(0, limit)

    dx, dy = width * 0.04, height * 0.04
    quad = (
        jitter(dx),
        jitter(dy),
        jitter(dx),
        height - jitter(dy),
        width - jitter(dx),
        height - jitter(dy),
        width - jitter(dx),
        jitter(dy),
    )
    image = image.transform(image.size, Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)
    angle = rng.choice([-1, 1]) * rng.uniform(3, 5)
    fill = image.getpixel((2, 2))
    image = image.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.1)))
    # Uneven light: a gradient from one side, darker by up to 30 %.
    shade = Image.linear_gradient("L")
    if rng.random() < 0.5:
        shade = shade.transpose(Image.Transpose.ROTATE_90)
    shade = shade.resize(image.size)
    darkness = rng.uniform(0.15, 0.3)
    light = shade.point([255 - round(value * darkness) for value in range(256)])
    image = Image.composite(image, Image.new("RGB", image.size, (0, 0, 0)), light)
    if rng.random() < 0.5:
        # Moiré: a fine grid of the screen's pixels beating with the camera's.
        period = rng.choice([3, 4, 5])
        grid = Image.new("L", image.size, 0)
        draw = ImageDraw.Draw(grid)
        for x in range(0, image.width, period):
            draw.line([(x, 0), (x + image.height // 3, image.height)], fill=28)
        image = Image.composite(Image.new("RGB", image.size, (0, 0, 0)), image, grid)
    else:
        # Sensor noise, from the seeded generator (Pillow's effect_noise is not seeded).
        noise = Image.frombytes("L", image.size, rng.randbytes(image.width * image.height))
        image = Image.blend(image, noise.convert("RGB"), rng.uniform(0.08, 0.16))
    return image


def make_picture(kind: str, rng: random.Random) -> Picture:
    """One picture of ``kind`` (one of KINDS)."""
    mono, sans, serif = installed(MONO_FONTS), installed(SANS_FONTS), installed(SERIF_FONTS)
    license_key: str | None = random_key(rng)
    lower = kind == "lowercase" or rng.random() < 0.1
    key_font = rng.choice(mono)
    if kind == "serif":
        key_font = rng.choice(serif)
    elif kind == "proportional":
        key_font = rng.choice(sans)
    label_font = rng.choice(serif if kind == "serif" else sans + serif)
    theme = rng.choice(DARK_THEMES if kind == "dark" else LIGHT_THEMES)
    if kind not in ("dark", "light") and rng.random() < 0.25:
        theme = rng.choice(DARK_THEMES)
    scale = rng.uniform(1.0, 1.6)
    if kind == "scaled":
        scale = rng.choice([rng.uniform(0.8, 1.0), rng.uniform(1.6, 2.5)])
    decoys = rng.randint(0, 1)
    if kind in ("decoys", "decoys only"):
        decoys = rng.randint(2, 4)
    if kind == "decoys only":
        license_key = None
    assert license_key is not None or kind == "decoys only"
    if license_key is None:
        key_lines: list[str] = []
    elif kind == "wrapped":
        key_lines = wrapped(license_key, rng, lower=lower)
    else:
        key_lines = [written(license_key, rng, lower=lower)]
    image = draw_page(
        rng,
        key_lines=key_lines,
        key_font=key_font,
        label_font=label_font,
        theme=theme,
        scale=scale,
        decoys=decoys,
    )
    buffer = io.BytesIO()
    if kind == "photo":
        image = photographed(image, rng)
        quality = rng.randint(15, 40)
        image.save(buffer, "JPEG", quality=quality)
        saved = f"jpeg q{quality}"
    elif rng.random() < 0.5:
        image.save(buffer, "PNG")
        saved = "png"
    else:
        quality = rng.randint(50, 90)
        image.save(buffer, "JPEG", quality=quality)
        saved = f"jpeg q{quality}"
    description = (
        f"{kind}: key {' / '.join(key_lines) or 'none'} in {Path(key_font).stem}, "
        f"x{scale:.2f}, {decoys} decoys, {saved}"
    )
    return Picture(kind, license_key, buffer.getvalue(), description)


def corpus(count: int, seed: int) -> list[Picture]:
    """``count`` pictures, the kinds in turn."""
    rng = random.Random(seed)
    return [make_picture(KINDS[number % len(KINDS)], rng) for number in range(count)]
