"""The desk's queue (/desk) and its one lookup (/desk/lookup), for agents and admins with
two-factor sign-in."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from licensor.support.desk.queue import ASSIGNEES, QueueFilter
from licensor.support.views.desk_pages import (
    STATUSES,
    TOPICS,
    FromRequest,
    context_request,
    render,
)
from licensor.web.access import StaffPage

router = APIRouter(include_in_schema=False)


@router.get("/desk", response_class=HTMLResponse)
def queue(
    staff: StaffPage,
    status: str = "",
    topic: str = "",
    assignee: str = "all",
    q: str = "",
    page: int = 1,
) -> Response:
    with staff.open() as unit:
        wanted = QueueFilter(
            status=status if status in STATUSES else "",
            topic=topic if topic in TOPICS else "",
            assignee=assignee if assignee in ASSIGNEES else "all",
            q=q[:200],
            page=page,
        )
        found = unit.desk_queue.queue(unit.account, wanted)

        def page_link(number: int, **changes: str) -> str:
            values = {
                "status": wanted.status,
                "topic": wanted.topic,
                "assignee": wanted.assignee,
                "q": wanted.q,
                "page": str(number),
                **changes,
            }
            return "/desk?" + urlencode({k: v for k, v in values.items() if v})

        return render(unit, "desk/queue.html", wanted=wanted, found=found, link=page_link)


@router.get("/desk/lookup", response_class=HTMLResponse)
def lookup(page: StaffPage, q: str = "", number: FromRequest = "") -> Response:
    with page.open() as unit:
        context = context_request(unit, number)
        found, mistake = unit.desk_lookup.search(q)
        error = unit._(mistake) if mistake else None
        return render(
            unit,
            "desk/lookup.html",
            status=200 if error is None else 422,
            q=q,
            found=found,
            error=error,
            request_row=context,
        )
