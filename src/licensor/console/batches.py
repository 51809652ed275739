"""Code batches (``/console/batches``, admins): issue one (a background job, its progress on a
page that refreshes itself), download the printer's CSV once (audited), block a batch whole,
allocate one to a partner. The rules are ``licensing/card_batches.py``'s, which ``licensor
codes`` calls too.

The batch's page refreshes itself every 2 s while the worker issues it: without JavaScript
by a ``<meta http-equiv="refresh">`` inside ``<noscript>`` (a browser running scripts never
sees it, so axe's rule against timed refreshes does not apply to it), with JavaScript by
``/static/batch-progress.js``, which polls ``/console/batches/ID/status`` and moves the bar.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any

from babel.numbers import format_decimal
from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from licensor.console.pages import render
from licensor.db import Database
from licensor.deps import RowId
from licensor.errors import BatchBlocked, BatchCsvTaken, BatchInUse
from licensor.keys import Keyring
from licensor.licensing.card_batches import CSV_COLUMNS, PAGE_SIZE, CardBatches, csv_lines
from licensor.web.access import AdminPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

PROBLEMS = {
    "plan_unknown": N_("Choose a plan."),
    "count_range": N_("Enter a number of codes from 1 to 1,000,000."),
    "label_long": N_("Keep the label under 200 characters."),
    "partner_unknown": N_("Choose a partner."),
    "reason_missing": N_("Say why."),
}
NOTICES = {
    "started": N_("The batch is being issued: this page follows its progress."),
    "blocked": N_("The batch is blocked: none of its codes activates or validates any more."),
    "allocated": N_("The batch is allocated to the partner."),
    "allowed": N_("The CSV may be downloaded once more."),
}


def _numbers(unit: PageUnit) -> dict[str, Any]:
    """What the batch templates write counts with: ``number(1000)`` as the page's language
    writes it (1,000 or 1.000)."""
    return {"number": lambda value: format_decimal(value, locale=unit.language)}


def _count(text: str) -> int | None:
    try:
        return int(text.strip().replace(",", "").replace(".", "").replace(" ", ""))
    except ValueError:
        return None


def batches_page(
    unit: PageUnit,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    before: int | None = None,
) -> HTMLResponse:
    rows = unit.service(CardBatches).newest(before=before)
    return render(
        unit,
        "console/batches.html",
        status,
        rows=rows,
        older=rows[-1].batch.id if len(rows) == PAGE_SIZE else None,
        plans=[plan for plan in unit.plans.all() if plan.retired_at is None],
        partners=unit.partners.all(),
        errors=errors or {},
        values=values or {},
        **_numbers(unit),
    )


@router.get("/console/batches", response_class=HTMLResponse)
def batches_list(page: AdminPage, before: RowId | None = None) -> Response:
    with page.open() as unit:
        return batches_page(unit, before=before)


@router.post("/console/batches", response_class=HTMLResponse)
def batch_issue(
    page: AdminPage,
    plan: Field = "",
    count: Field = "",
    label: Field = "",
    partner: Field = "",
    sold_at_till: Field = "",
) -> Response:
    values = {
        "plan": plan,
        "count": count,
        "label": label,
        "partner": partner,
        "sold_at_till": sold_at_till,
    }
    with page.open() as unit:
        return form_action(
            unit,
            lambda: unit.service(CardBatches).start(
                plan_code=plan,
                count=_count(count),
                label=label,
                partner_slug=partner or None,
                sold_at_till=bool(sold_at_till),
            ),
            done=lambda batch: f"/console/batches/{batch.id}?done=started",
            again=lambda status, errors: batches_page(unit, status, errors, values),
            messages=PROBLEMS,
        )


def batch_page(
    unit: PageUnit,
    batch_id: int,
    status: int = 200,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    row = unit.service(CardBatches).get(batch_id)
    return render(
        unit,
        "console/batch.html",
        status,
        row=row,
        partners=unit.partners.all(),
        errors=errors or {},
        notice=notice,
        error=error,
        **_numbers(unit),
    )


@router.get("/console/batches/{batch_id}", response_class=HTMLResponse)
def batch_view(page: AdminPage, batch_id: RowId, done: str = "") -> Response:
    with page.open() as unit:
        notice = unit._(NOTICES[done]) if done in NOTICES else None
        return batch_page(unit, batch_id, notice=notice)


@router.get("/console/batches/{batch_id}/status")
def batch_status(page: AdminPage, batch_id: RowId) -> Response:
    """The batch's progress for the page's script: codes issued of those asked."""
    with page.open() as unit:
        batch = unit.service(CardBatches).get(batch_id).batch
        return JSONResponse(
            {
                "issued": batch.issued_count,
                "count": batch.count,
                "done": batch.issued_count >= batch.count,
                "blocked": batch.blocked_at is not None,
            },
            headers={"Cache-Control": "no-store"},
        )


def _csv_stream(database: Database, keyring: Keyring, batch_id: int) -> Iterator[str]:
    """The printer's CSV, a chunk of codes at a time (each read in its own short
    transaction): memory stays flat for a million codes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for lines in csv_lines(database, keyring, batch_id):
        writer.writerows(lines)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


@router.post("/console/batches/{batch_id}/csv", response_class=HTMLResponse)
def batch_csv(page: AdminPage, batch_id: RowId) -> Response:
    """The printer's CSV, once: recorded and audited (committed) before the first byte."""
    with page.open() as unit:
        batches = unit.service(CardBatches)
        try:
            batches.take_csv(batch_id)
        except BatchCsvTaken:
            row = batches.get(batch_id)
            return render(unit, "console/batch_downloaded.html", 409, row=row, errors={})
        except BatchInUse:
            return batch_page(unit, batch_id, 409, error=unit._("The batch is still being issued."))
    web = page.web
    return StreamingResponse(
        _csv_stream(web.database, web.keyring, batch_id),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="batch-{batch_id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/console/batches/{batch_id}/csv/allow", response_class=HTMLResponse)
def batch_csv_allow(page: AdminPage, batch_id: RowId, reason: Field = "") -> Response:
    with page.open() as unit:
        batches = unit.service(CardBatches)
        return form_action(
            unit,
            lambda: batches.allow_csv_again(batch_id, reason=reason),
            done=f"/console/batches/{batch_id}?done=allowed",
            again=lambda status, errors: render(
                unit,
                "console/batch_downloaded.html",
                status,
                row=batches.get(batch_id),
                errors=errors,
            ),
            messages=PROBLEMS,
        )


@router.get("/console/batches/{batch_id}/block", response_class=HTMLResponse)
def batch_block_confirm(page: AdminPage, batch_id: RowId) -> Response:
    with page.open() as unit:
        row = unit.service(CardBatches).get(batch_id)
        return render(
            unit, "console/batch_block.html", row=row, errors={}, reason="", **_numbers(unit)
        )


@router.post("/console/batches/{batch_id}/block", response_class=HTMLResponse)
def batch_block(page: AdminPage, batch_id: RowId, reason: Field = "") -> Response:
    with page.open() as unit:
        batches = unit.service(CardBatches)
        return form_action(
            unit,
            lambda: batches.block(batch_id, reason=reason),
            done=f"/console/batches/{batch_id}?done=blocked",
            again=lambda status, errors: render(
                unit,
                "console/batch_block.html",
                status,
                row=batches.get(batch_id),
                errors=errors,
                reason=reason,
                **_numbers(unit),
            ),
            messages=PROBLEMS,
            refusals={BatchBlocked: "reason"},
        )


@router.post("/console/batches/{batch_id}/allocate", response_class=HTMLResponse)
def batch_allocate(page: AdminPage, batch_id: RowId, partner: Field = "") -> Response:
    with page.open() as unit:
        return form_action(
            unit,
            lambda: unit.service(CardBatches).allocate(batch_id, partner),
            done=f"/console/batches/{batch_id}?done=allocated",
            again=lambda status, errors: batch_page(unit, batch_id, status, errors),
            messages=PROBLEMS,
            refusals={BatchBlocked: "partner", BatchInUse: "partner"},
        )
