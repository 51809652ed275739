"""The page behind the link that frees a seat (``store/seat_release.py``): no sign-in, no
JavaScript. Opening it only lists the license's devices (mail scanners open links); each
has a "Free this seat" button that posts, then the browser is sent on to a page that says
it is done (post/redirect/get), so a reload frees nothing twice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from licensor.dates import format_datetime
from licensor.deps import client_address
from licensor.store.seat_release import RELEASE_PATH, ReleaseChoice
from licensor.web.access import PublicPage
from licensor.web.pages import Pages, PageUnit

router = APIRouter(include_in_schema=False)

DONE_PATH = RELEASE_PATH + "done"


def _private(response: Response) -> Response:
    # The link is the key: keep the page out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _choice_page(
    unit: PageUnit,
    token: str,
    choice: ReleaseChoice | None,
    status: int = 200,
    error: str | None = None,
) -> Response:
    seats = []
    if choice is not None:
        seats = [
            {
                "reference": seat.reference,
                "name": seat.name,
                "platform": seat.platform,
                "last_seen": format_datetime(seat.last_seen_at, unit.language),
                "last_seen_iso": seat.last_seen_at.isoformat(),
            }
            for seat in choice.seats
        ]
    return _private(
        unit.render(
            "store/seat_release.html",
            status=status if choice is not None else max(status, 404),
            token=token,
            choice=choice,
            seats=seats,
            expires=format_datetime(choice.link_expires_at, unit.language) if choice else "",
            error=error,
        )
    )


@router.get(DONE_PATH, response_class=HTMLResponse)
def seat_freed(page: PublicPage) -> Response:
    with page.open() as unit:
        return _private(unit.render("store/seat_release_done.html"))


@router.get(RELEASE_PATH + "{token}", response_class=HTMLResponse)
def seat_release_choice(request: Request, web: Pages, page: PublicPage, token: str) -> Response:
    web.limit("follow", client_address(request))
    with page.open() as unit:
        return _choice_page(unit, token, unit.seat_release.choice(token))


@router.post(RELEASE_PATH + "{token}", response_class=HTMLResponse)
def free_seat(
    request: Request,
    web: Pages,
    page: PublicPage,
    token: str,
    seat: Annotated[str, Form()] = "",
) -> Response:
    web.limit("follow", client_address(request))
    with page.open() as unit:
        try:
            freed = unit.seat_release.free(token, seat)
        except LookupError:
            return _choice_page(
                unit,
                token,
                unit.seat_release.choice(token),
                409,
                unit._("That device no longer holds a seat. Choose another one."),
            )
        if freed is None:
            return _choice_page(unit, token, None, 410)
    return RedirectResponse(DONE_PATH, status_code=303)
