"""The partner directory: every reseller and how to reach it, for customers who bought
from one (F5)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.web.access import PublicPage

router = APIRouter(include_in_schema=False)


@router.get("/partners", response_class=HTMLResponse)
def partner_directory(request: Request, page: PublicPage) -> Response:
    with page.open() as unit:
        return unit.render("partners.html", partners=unit.partners.all())
