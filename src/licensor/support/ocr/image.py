"""The screenshot as Tesseract reads it best: decoded in grey, dark themes inverted,
enlarged or shrunk towards the text height it reads best, optionally binarised (Otsu), and
the line that looked most like a key cut out."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageFilter, ImageOps, UnidentifiedImageError

from licensor.errors import ScreenshotUnreadable
from licensor.support.ocr.tesseract import Line

# Larger pictures are not screenshots of one window; Pillow warns of bombs at 89 MP.
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class Prepared:
    image: Image.Image
    factor: float  # prepared pixels per pixel of the grey original


def decode(data: bytes) -> Image.Image:
    """The image in grey, light text on dark turned to dark on light."""
    try:
        with warnings.catch_warnings():
            # Refused below by MAX_PIXELS, which is stricter than Pillow's warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            picture: Image.Image = Image.open(io.BytesIO(data))
        if picture.width * picture.height > MAX_PIXELS:
            raise ScreenshotUnreadable(
                f"the image has {picture.width} x {picture.height} pixels: too large"
            )
        picture.load()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
    ) as error:
        raise ScreenshotUnreadable(f"not an image Pillow can decode: {error}") from None
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        picture = flat
    grey = ImageOps.grayscale(picture.convert("RGB"))
    if _median(grey.histogram()) < 128:
        grey = ImageOps.invert(grey)
    return grey


def _median(histogram: list[int]) -> int:
    half = sum(histogram) / 2
    seen = 0
    for level, count in enumerate(histogram):
        seen += count
        if seen >= half:
            return level
    return 255


# Turns tried when straightening a photographed screen, in degrees: a phone held askew
# turns the text by a few degrees, and Tesseract's line finding loses a line turned by
# more than about 2 (its words drift into the next line across a long key).
SKEW_ANGLES = tuple(step / 2 for step in range(-14, 15))
# Width the turns are measured at: the text lines' profile, not their details, matters.
SKEW_WIDTH = 400


def deskewed(grey: Image.Image) -> Image.Image:
    """The image turned so that its lines of text run level: the turn whose rows are the
    most unequal (dark lines of text, light gaps between them) wins. A screenshot's lines
    are level already, and it is returned as it is."""
    factor = SKEW_WIDTH / max(1, grey.width)
    small = grey.resize((SKEW_WIDTH, max(1, round(grey.height * factor))), Image.Resampling.BOX)
    small = prepared(small, 1.0, binarise=True).image
    ink = ImageOps.invert(small)

    def unevenness(angle: float) -> float:
        turned = ink.rotate(angle, Image.Resampling.BILINEAR, fillcolor=0)
        rows = turned.resize((1, turned.height), Image.Resampling.BOX).tobytes()
        mean = sum(rows) / len(rows)
        return float(sum((row - mean) ** 2 for row in rows) / len(rows))

    best = max(SKEW_ANGLES, key=lambda angle: (unevenness(angle), -abs(angle)))
    if abs(best) < 1:
        return grey
    # The corners turned in are filled with the paper's grey: white ones beside a grey
    # photographed page would be the "paper" to Tesseract's threshold, the page its "ink".
    paper = _median(grey.histogram())
    return grey.rotate(best, Image.Resampling.BICUBIC, expand=True, fillcolor=paper)


def evenly_lit(grey: Image.Image) -> Image.Image:
    """The image with the paper made evenly white: a photographed screen is lit unevenly,
    and one threshold for the whole picture loses the text on its darker side. The paper's
    level is the brightest in each neighbourhood (text is thinner than the neighbourhood),
    and what is darker than it is ink."""
    small = grey.resize((max(1, grey.width // 8), max(1, grey.height // 8)), Image.Resampling.BOX)
    paper = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(2))
    paper = paper.resize(grey.size, Image.Resampling.BILINEAR)
    return ImageOps.invert(ImageChops.subtract(paper, grey))


def guess_key_height(grey: Image.Image) -> float:
    """The key's text height, guessed from the width of the window (the app draws the key
    at 24 px in a window 680 px wide at scale 1, digits about 18 px high)."""
    return max(6.0, 18.0 * grey.width / 680)


def prepared(grey: Image.Image, factor: float, *, binarise: bool = False) -> Prepared:
    """The grey image scaled by ``factor`` (within 0.5 to 4), optionally binarised."""
    factor = min(4.0, max(0.5, factor))
    if abs(factor - 1) > 0.05:
        size = (max(1, round(grey.width * factor)), max(1, round(grey.height * factor)))
        grey = grey.resize(size, Image.Resampling.LANCZOS)
    else:
        factor = 1.0
    if binarise:
        level = _otsu(grey.histogram())
        grey = grey.point([0 if value <= level else 255 for value in range(256)])
    return Prepared(grey, factor)


def _otsu(histogram: list[int]) -> int:
    """Otsu's threshold: the level that best separates ink from paper."""
    total = sum(histogram)
    weighted_total = sum(level * count for level, count in enumerate(histogram))
    background = weighted = 0.0
    best_level, best_variance = 127, -1.0
    for level, count in enumerate(histogram):
        background += count
        if background == 0:
            continue
        foreground = total - background
        if foreground == 0:
            break
        weighted += level * count
        mean_back = weighted / background
        mean_fore = (weighted_total - weighted) / foreground
        variance = background * foreground * (mean_back - mean_fore) ** 2
        if variance > best_variance:
            best_level, best_variance = level, variance
    return best_level


def line_crop(whole: Prepared, line: Line) -> Image.Image:
    """The line cut out of the prepared image, with a margin of half its height."""
    left, top, right, bottom = line.box()
    margin = max(4, line.height() // 2)
    return whole.image.crop(
        (
            max(0, left - margin),
            max(0, top - margin),
            min(whole.image.width, right + margin),
            min(whole.image.height, bottom + margin),
        )
    )
