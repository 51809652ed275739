"""Customer help articles: save, restore and move a license, connect a device, find the key.

Each article is long prose, so it is written once per language as a template of its own
(``templates/help/<language>/<slug>.html``) rather than cut into catalog strings; only the
titles and summaries, which the index and the "related articles" links share, go through
the catalog. Pages are GET only: nothing here reads or writes the database beyond the
visitor's session, which decides the language.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.errors import NotFound
from licensor.web import i18n
from licensor.web.access import PublicPage
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

ARTICLE_TEMPLATES = Path(__file__).parent / "templates" / "help"


@dataclass(frozen=True)
class Article:
    slug: str
    title: str  # English; translated where it is shown
    summary: str
    related: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"/help/{self.slug}"


ARTICLES = (
    Article(
        "save-license",
        N_("Save your license before reinstalling the operating system"),
        N_("Keep a backup file of the license, so the app activates again after a reinstall."),
        ("restore-license", "transfer-license", "license-details"),
    ),
    Article(
        "restore-license",
        N_("Restore your license after reinstalling the operating system"),
        N_("Bring the license back from the backup file, without using another device."),
        ("save-license", "connect-device", "license-details"),
    ),
    Article(
        "transfer-license",
        N_("Move your license to another device"),
        N_(
            "Free the license on the old device, in the app or in My Account, then activate it "
            "on the new one."
        ),
        ("connect-device", "save-license", "license-details"),
    ),
    Article(
        "connect-device",
        N_("Connect a device to My Account"),
        N_(
            "Sign in from the app, or enter the short code it shows, and see its licenses in "
            "My Account."
        ),
        ("transfer-license", "restore-license", "license-details"),
    ),
    Article(
        "license-details",
        N_("Find your 32-digit license key"),
        N_("Open the License details window, and save a screenshot to send to support."),
        ("connect-device", "restore-license", "transfer-license"),
    ),
    Article(
        "purchases",
        N_("Find your purchases in My Account"),
        N_(
            "Orders placed with an email address you confirm join your account, with their "
            "codes and receipts."
        ),
        ("connect-device", "license-details", "transfer-license"),
    ),
    Article(
        "renew",
        N_("Renew a license before it ends"),
        N_(
            "We email you before a license or subscription ends; renew in the store, or stop "
            "the reminders."
        ),
        ("purchases", "transfer-license", "connect-device"),
    ),
)
BY_SLUG = {article.slug: article for article in ARTICLES}


@dataclass(frozen=True)
class Link:
    """An article as a page shows it: its address and title in the page's language."""

    path: str
    title: str
    summary: str


def _link(unit: PageUnit, article: Article) -> Link:
    return Link(article.path, unit._(article.title), unit._(article.summary))


def body_template(slug: str, language: str) -> str:
    """The article's body in ``language``; English when that language has none yet."""
    if not (ARTICLE_TEMPLATES / language / f"{slug}.html").is_file():
        language = i18n.DEFAULT
    return f"help/{language}/{slug}.html"


@router.get("/help", response_class=HTMLResponse)
def index(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        return unit.render("help/index.html", articles=[_link(unit, a) for a in ARTICLES])


@router.get("/help/{slug}", response_class=HTMLResponse)
def article(request: Request, page: PublicPage, slug: str) -> Response:
    found = BY_SLUG.get(slug)
    if found is None:
        raise NotFound(N_("There is no help article at this address."))
    with page.open() as unit:
        return unit.render(
            body_template(found.slug, unit.language),
            article=_link(unit, found),
            related=[_link(unit, BY_SLUG[other]) for other in found.related],
        )
