"""The vendor's brand: product name, logo and primary colour (docs/brand.md).

Read once with the settings: ``LICENSOR_BRAND_NAME``, ``LICENSOR_BRAND_LOGO`` and
``LICENSOR_BRAND_COLOR``, each beating the same key (``name``, ``logo``, ``color``) of
the TOML file ``LICENSOR_BRAND_FILE``. A colour that white text cannot be read on (under
WCAG's 4.5:1) is refused at start: buttons and the header draw white text on it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_COLOR = "#0b5cad"
MIN_CONTRAST = 4.5  # WCAG 2 AA for normal text
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}
FILE_KEYS = ("name", "logo", "color")


@dataclass(frozen=True)
class BrandChoice:
    """What the settings and the brand file chose together (None: not chosen)."""

    name: str | None
    logo: Path | None
    color: str | None


def _linear(channel: int) -> float:
    value = channel / 255
    return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    red, green, blue = (int(color[index : index + 2], 16) for index in (1, 3, 5))
    return 0.2126 * _linear(red) + 0.7152 * _linear(green) + 0.0722 * _linear(blue)


def contrast_with_white(color: str) -> float:
    """The contrast ratio of white text on ``color`` (1 to 21)."""
    return 1.05 / (luminance(color) + 0.05)


def checked_color(value: str, where: str = "LICENSOR_BRAND_COLOR") -> str:
    """``value`` as ``#rrggbb`` in lower case, or ValueError in one line saying why."""
    color = value.strip()
    if not COLOR.fullmatch(color):
        raise ValueError(f"{where} must be a colour as #rrggbb, e.g. {DEFAULT_COLOR}")
    ratio = contrast_with_white(color)
    if ratio < MIN_CONTRAST:
        raise ValueError(
            f"{where} {color} gives white text a contrast of {ratio:.1f}:1, under the "
            f"{MIN_CONTRAST}:1 buttons and the header need: choose a darker colour"
        )
    return color.lower()


def checked_logo(path: Path, where: str = "LICENSOR_BRAND_LOGO") -> Path:
    """An existing SVG or PNG file, or ValueError in one line."""
    path = path.expanduser()
    if path.suffix.lower() not in LOGO_TYPES:
        raise ValueError(f"{where} must be an .svg or .png file, not {path.name!r}")
    if not path.is_file():
        raise ValueError(f"{where}: no file at {path}")
    return path.resolve()


def read_file(path: Path) -> dict[str, str]:
    """The brand file's keys (``name``, ``logo``, ``color``), or ValueError in one line."""
    path = path.expanduser()
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except OSError as error:
        raise ValueError(f"LICENSOR_BRAND_FILE: cannot read {path} ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"LICENSOR_BRAND_FILE {path} is not TOML: {error}") from None
    unknown = sorted(set(values) - set(FILE_KEYS))
    if unknown:
        raise ValueError(
            f"LICENSOR_BRAND_FILE {path}: unknown keys {', '.join(unknown)} "
            f"(known: {', '.join(FILE_KEYS)})"
        )
    if not all(isinstance(value, str) for value in values.values()):
        raise ValueError(f"LICENSOR_BRAND_FILE {path}: name, logo and color are strings")
    return values


def choose(
    file: Path | None, name: str | None, logo: Path | None, color: str | None
) -> BrandChoice:
    """Settings beat the file; the file's logo path is relative to the file. Raises
    ValueError, in one line, for a colour too light for white text or a missing logo."""
    from_file = read_file(file) if file is not None else {}
    where = f"LICENSOR_BRAND_FILE {file}"
    if logo is not None:
        logo = checked_logo(logo)
    elif "logo" in from_file and file is not None:
        logo = checked_logo(file.expanduser().parent / from_file["logo"], f"{where}: logo")
    if color is not None:
        color = checked_color(color)
    elif "color" in from_file:
        color = checked_color(from_file["color"], f"{where}: color")
    name = (name or from_file.get("name") or "").strip() or None
    return BrandChoice(name, logo, color)


def darker(color: str, factor: float = 0.82) -> str:
    """The colour a little darker: a pressed or hovered button."""
    red, green, blue = (int(int(color[index : index + 2], 16) * factor) for index in (1, 3, 5))
    return f"#{red:02x}{green:02x}{blue:02x}"
