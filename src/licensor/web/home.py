"""The home page (``/``): where a visitor starts, whoever they are. It belongs to no domain:
it links to the store, My Account, help and support, and reads nothing but the visitor."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.web.access import PublicPage

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        return unit.render("home.html")
