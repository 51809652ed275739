"""The brand's files at fixed addresses, and what every page's head says.

``/brand.css`` sets the brand's colours as CSS variables (the pages' Content-Security-
Policy allows no inline style), ``/brand/logo`` serves ``LICENSOR_BRAND_LOGO``,
``/favicon.svg`` and ``/favicon.ico`` the brand's icon: the logo where it can be one,
else a keyhole drawn in the brand's colour. Each is made once per brand and cached by
browsers; pages link them with ``?v=`` the brand's version, so a new brand shows at once.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from PIL import Image, ImageDraw

from licensor import brand
from licensor.config import Settings
from licensor.web.i18n import N_

router = APIRouter(include_in_schema=False)

CACHE = "public, max-age=86400"
ICON_SIZES = [(16, 16), (32, 32), (48, 48)]
MARK_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">\
<rect width="32" height="32" rx="7" fill="{color}"/>\
<circle cx="16" cy="12.5" r="5" fill="#fff"/><path d="M13.6 15h4.8l1.6 10h-8z" fill="#fff"/>\
</svg>
"""

# What each kind of page is, for search engines and link previews: the longest matching
# path prefix wins. A template may say more in its own ``{% block description %}``.
DESCRIPTIONS = (
    ("/", N_("{product}: your licenses, activation codes and devices in one place.")),
    ("/sign-in", N_("Sign in to your {product} account to see your licenses and devices.")),
    ("/sign-up", N_("Create a {product} account: every code you buy or activate in one place.")),
    ("/reset-password", N_("Choose a new password for your {product} account.")),
    ("/account", N_("Your {product} account: licenses, devices, orders and subscriptions.")),
    ("/store", N_("Buy {product}: plans, prices and devices per license.")),
    ("/orders", N_("Find a {product} order and get its activation codes again.")),
    ("/support", N_("Ask {product} support for help with a code, a purchase or a device.")),
    ("/help", N_("{product} help: activate, recover a lost code, move to another device.")),
    ("/desk", N_("The {product} support desk, for support agents.")),
    ("/console", N_("The {product} console, for the vendor's staff.")),
)


def description(path: str) -> str:
    """The untranslated description of the kind of page at ``path``."""
    matches = [
        (prefix, text)
        for prefix, text in DESCRIPTIONS
        if path == prefix or path.startswith(prefix.rstrip("/") + "/")
    ]
    return max(matches, key=lambda match: len(match[0]))[1]


@dataclass(frozen=True)
class Assets:
    """One brand's files, as served."""

    color: str
    color_dark: str
    logo: bytes | None
    logo_type: str | None
    icon_svg: bytes
    icon_ico: bytes
    version: str

    @property
    def css(self) -> bytes:
        return (f":root {{ --accent: {self.color}; --accent-dark: {self.color_dark}; }}\n").encode()


def assets(settings: Settings) -> Assets:
    """The brand's files for these settings (made once, then cached)."""
    return _assets(settings.brand_color or brand.DEFAULT_COLOR, settings.brand_logo)


@lru_cache(maxsize=8)
def _assets(color: str, logo_path: Path | None) -> Assets:
    logo = logo_path.read_bytes() if logo_path is not None else None
    logo_type = brand.LOGO_TYPES[logo_path.suffix.lower()] if logo_path is not None else None
    mark = MARK_SVG.format(color=color).encode()
    icon_svg = logo if logo is not None and logo_type == "image/svg+xml" else mark
    picture = _png_picture(logo) if logo is not None and logo_type == "image/png" else None
    icon_ico = _ico(picture or _drawn_mark(color))
    version = hashlib.sha256(color.encode() + (logo or b"")).hexdigest()[:12]
    return Assets(color, brand.darker(color), logo, logo_type, icon_svg, icon_ico, version)


def _png_picture(data: bytes) -> Image.Image | None:
    try:
        picture = Image.open(io.BytesIO(data))
        picture.load()
    except OSError:
        return None  # not a PNG after all: the drawn mark stands in
    side = max(picture.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(
        picture.convert("RGBA"), ((side - picture.width) // 2, (side - picture.height) // 2)
    )
    return square


def _drawn_mark(color: str) -> Image.Image:
    """MARK_SVG drawn with Pillow (browsers that ask for /favicon.ico want pixels)."""
    scale = 8
    picture = Image.new("RGBA", (32 * scale, 32 * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((0, 0, 32 * scale - 1, 32 * scale - 1), radius=7 * scale, fill=color)
    draw.ellipse(
        ((16 - 5) * scale, (12.5 - 5) * scale, (16 + 5) * scale, (12.5 + 5) * scale), fill="#fff"
    )
    draw.polygon(
        [
            (13.6 * scale, 15 * scale),
            (18.4 * scale, 15 * scale),
            (20 * scale, 25 * scale),
            (12 * scale, 25 * scale),
        ],
        fill="#fff",
    )
    return picture


def _ico(picture: Image.Image) -> bytes:
    output = io.BytesIO()
    picture.resize((48, 48), Image.Resampling.LANCZOS).save(output, format="ICO", sizes=ICON_SIZES)
    return output.getvalue()


def _brand_assets(request: Request) -> Assets:
    return assets(request.app.state.settings)


@router.get("/brand.css")
def brand_css(request: Request) -> Response:
    return Response(
        _brand_assets(request).css, media_type="text/css", headers={"Cache-Control": CACHE}
    )


@router.get("/brand/logo")
def brand_logo(request: Request) -> Response:
    found = _brand_assets(request)
    if found.logo is None or found.logo_type is None:
        return Response(status_code=404)
    return Response(found.logo, media_type=found.logo_type, headers={"Cache-Control": CACHE})


@router.get("/favicon.svg")
def favicon_svg(request: Request) -> Response:
    return Response(
        _brand_assets(request).icon_svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": CACHE},
    )


@router.get("/favicon.ico")
def favicon_ico(request: Request) -> Response:
    return Response(
        _brand_assets(request).icon_ico, media_type="image/x-icon", headers={"Cache-Control": CACHE}
    )
