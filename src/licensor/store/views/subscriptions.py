"""My Account's subscriptions (F1): each subscription with its renewal, turning renewal
off, and the app's download, whose enrollment file lets the app activate itself.

These pages are in My Account but their rules are the store's, so they live here: the
accounts domain sits below the store and never asks it for anything.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from licensor.deps import RowId
from licensor.web.access import CustomerPage
from licensor.web.pages import Pages

router = APIRouter(include_in_schema=False)


@router.get("/account/subscriptions", response_class=HTMLResponse)
def subscriptions(request: Request, page: CustomerPage) -> Response:
    with page.open() as unit:
        return unit.render(
            "account/subscriptions.html",
            subscriptions=unit.subscriptions.of_account(unit.account),
            notice=None,
        )


@router.post("/account/subscriptions/{subscription_id}/cancel", response_class=HTMLResponse)
def cancel_subscription(request: Request, page: CustomerPage, subscription_id: RowId) -> Response:
    with page.open() as unit:
        service = unit.subscriptions
        canceled = service.cancel(unit.account, subscription_id)
        notice = unit._("Renewal is off. The license stays valid until {date}.").format(
            date=canceled.current_period_end.strftime("%Y-%m-%d")
        )
        return unit.render(
            "account/subscriptions.html",
            subscriptions=service.of_account(unit.account),
            notice=notice,
        )


@router.post("/account/subscriptions/{subscription_id}/download")
def download_app(
    request: Request, web: Pages, page: CustomerPage, subscription_id: RowId
) -> Response:
    """The app's enrollment file: a one-time token the app redeems on first start (F1)."""
    with page.open() as unit:
        token = unit.subscriptions.enrollment_token(unit.account, subscription_id)
    enrollment = {
        "format": "licensor-enrollment/1",
        "server": web.settings.url("/").rstrip("/"),
        "token": token,
        "public_keys": web.keyring.public_keys_b64(),
    }
    return Response(
        json.dumps(enrollment, indent=2) + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="licensor-enrollment.json"',
            "Cache-Control": "no-store",
        },
    )
