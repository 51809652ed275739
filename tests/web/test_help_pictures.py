"""The help articles' pictures of the app's windows: rendered from the app itself, so they
never go stale (scripts/render_help_pictures.py run again must give the committed files),
shown in the article's language with an alt text and a caption, legible in Chromium and
within a phone's width.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from playwright.sync_api import Page, expect

from licensor.licensing.formats import format_license_key, is_valid_license_key

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "render_help_pictures.py"
PICTURES = ROOT / "src" / "licensor" / "web" / "static" / "help"
WINDOWS = ("main-window", "licensing", "enter-code", "license-details", "connect")
# The articles and the windows each shows.
ARTICLES = {
    "license-details": ["licensing", "license-details"],
    "connect-device": ["connect"],
    "transfer-license": ["licensing", "main-window", "enter-code"],
    "save-license": ["licensing"],
    "restore-license": ["licensing"],
}
# What each picture shows, in the words of the app in that language.
SHOWN = {
    ("licensing", "en"): ["Licensing", "Show&#160;details", "2&#160;of&#160;3"],
    ("licensing", "it"): ["Gestione", "Mostra&#160;dettagli", "2&#160;di&#160;3"],
    ("license-details", "en"): ["License&#160;details", "LIC-7K3M-9QXT", "14&#160;March&#160;2027"],
    ("license-details", "it"): [
        "Dettagli&#160;licenza",
        "LIC-7K3M-9QXT",
        "14&#160;marzo&#160;2027",
    ],
}


def test_the_committed_pictures_are_what_the_app_renders_now() -> None:
    if os.environ.get("LICENSOR_TEST_DATABASE_URL"):
        pytest.skip("no database involved: rendered on the SQLite run only")
    checked = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, (
        f"{checked.stdout}{checked.stderr}\nA window of the app changed: run "
        "`.venv/bin/python scripts/render_help_pictures.py` and commit the pictures."
    )


@pytest.mark.parametrize("language", ["en", "it"])
def test_every_window_is_pictured_in_each_language_as_the_app_shows_it(language: str) -> None:
    for window in WINDOWS:
        svg = (PICTURES / f"{window}-{language}.svg").read_text(encoding="utf-8")
        assert svg.startswith("<svg"), window
        for text in SHOWN.get((window, language), []):
            assert text in svg, (window, language, text)
        # Nothing fetched from elsewhere: the font is the reader's own monospace.
        assert 'url("http' not in svg
        assert "font-family: Fira Code, monospace" in svg


def test_the_pictured_license_key_has_right_check_digits() -> None:
    # Support's screenshot reader checks them: a picture of a key it would refuse would
    # teach customers that a refused key is normal.
    svg = (PICTURES / "license-details-en.svg").read_text(encoding="utf-8")
    grouped = re.search(r"(?:[0-9A-F]{4}&#160;){7}[0-9A-F]{4}", svg)
    assert grouped is not None
    key = grouped.group(0).replace("&#160;", "")
    assert is_valid_license_key(key)
    assert format_license_key(key).replace(" ", "&#160;") == grouped.group(0)


def test_the_pictures_are_in_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["licensor"]
    for picture in PICTURES.glob("*.svg"):
        inside = picture.relative_to(ROOT / "src" / "licensor").as_posix()
        # setuptools' "*" stops at a "/", as PurePath.match's does.
        assert any(PurePosixPath(inside).match(glob) for glob in globs), inside


def figures_of(page: Page, slug: str) -> list[dict[str, object]]:
    page.goto(f"/help/{slug}")
    images = page.locator("main article figure.app-window img")
    expect(images.first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.app-window img')]"
        ".every(image => image.complete)"
    )
    found: list[dict[str, object]] = page.eval_on_selector_all(
        "main article figure.app-window",
        """figures => figures.map(figure => {
            const image = figure.querySelector('img');
            const box = image.getBoundingClientRect();
            return {src: image.getAttribute('src'), alt: image.alt, width: box.width,
                    loaded: image.naturalWidth > 0,
                    caption: figure.querySelector('figcaption').textContent.trim()};
        })""",
    )
    return found


@pytest.mark.parametrize("slug", list(ARTICLES))
def test_each_article_shows_the_apps_windows_in_english(page: Page, slug: str) -> None:
    figures = figures_of(page, slug)
    assert [figure["src"] for figure in figures] == [
        f"/static/help/{window}-en.svg" for window in ARTICLES[slug]
    ]
    for figure in figures:
        assert figure["loaded"], figure
        assert len(str(figure["alt"])) > 40, figure  # says what the window shows
        assert figure["caption"], figure


@pytest.mark.parametrize("slug", list(ARTICLES))
def test_an_italian_reader_sees_the_italian_app_in_each_article(
    italian_page: Page, slug: str
) -> None:
    figures = figures_of(italian_page, slug)
    assert [figure["src"] for figure in figures] == [
        f"/static/help/{window}-it.svg" for window in ARTICLES[slug]
    ]
    for figure in figures:
        assert figure["loaded"], figure
        assert len(str(figure["alt"])) > 40, figure
        assert figure["caption"], figure
        for word in (" the ", " window", " click"):
            assert word not in f" {figure['alt']} {figure['caption']} ".lower(), figure


def test_the_pictures_fit_a_phone(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    for figure in figures_of(page, "license-details"):
        assert 300 <= float(str(figure["width"])) <= 390, figure
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
