"""Support's pages, by audience and noun. The customer's: the request form (``form.py``),
My Account's requests (``account_requests.py``), following one behind its mailed link
(``follow.py``), an order's address answering a question (``confirm.py``), and what they
share (``customer_pages.py``). The agent desk's at /desk: the queue and lookup
(``desk_queue.py``), a request and its actions (``desk_requests.py``), licenses and codes
and theirs (``desk_codes.py``), and what they share (``desk_pages.py``)."""

from __future__ import annotations

from fastapi import APIRouter

from licensor.support.views import (
    account_requests,
    confirm,
    desk_codes,
    desk_queue,
    desk_requests,
    follow,
    form,
)

router = APIRouter(include_in_schema=False)
for pages in (desk_queue, desk_requests, desk_codes, form, follow, account_requests, confirm):
    router.include_router(pages.router)
