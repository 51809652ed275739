"""The audit log (``/console/audit``, admins): newest first, a page at a time (keyset on the
id), filtered by actor (or a staff member picked by email), action (one, or every action
of a prefix such as ``licensing.``), subject and dates typed in the page's language; each
subject linked to its console page where it has one. "Export CSV" streams the filtered
rows and is itself audited as ``audit.exported``, with the filter. The reading is
accounts/audit_log.py's, which ``licensor audit list`` calls too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from licensor.accounts.audit_log import AuditFilter, AuditLog, AuditRow, parse_filter
from licensor.accounts.staff import Staff
from licensor.console.pages import render
from licensor.errors import FormInvalid
from licensor.units import open_unit
from licensor.web.access import AdminPage
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

MESSAGES = {
    **FIELD_MESSAGES,
    "number_invalid": N_("Enter a number."),
    "actor_email_unknown": N_("No account has this email address."),
}
FILTER_FIELDS = ("actor", "actor_email", "action", "subject_type", "subject_id", "since", "until")


def subject_path(row: AuditRow, names: dict[tuple[str, int], str]) -> str | None:
    """The console page of a row's subject, where there is one."""
    if row.subject_id is None:
        return None
    name = names.get((row.subject_type, row.subject_id))
    if row.subject_type == "account":
        return f"/console/customers/{row.subject_id}"
    if row.subject_type == "activation_code":
        return f"/console/codes/{row.subject_id}"
    if row.subject_type == "license" and name:
        return f"/console/licenses/{quote(name)}"
    if row.subject_type == "order" and name:
        return f"/console/orders/{quote(name)}"
    if row.subject_type == "support_request" and name:
        return f"/desk/requests/{quote(name)}"
    return None


def _typed(unit: PageUnit, fields: dict[str, str]) -> AuditFilter:
    """The filter as the form gave it, its dates read in the page's language."""
    return parse_filter(
        actor=fields["actor"],
        actor_email=fields["actor_email"],
        action=fields["action"],
        subject_type=fields["subject_type"],
        subject_id=fields["subject_id"],
        since=unit.typed_date(fields["since"]) if fields["since"].strip() else "",
        until=unit.typed_date(fields["until"]) if fields["until"].strip() else "",
    )


def _page(
    unit: PageUnit,
    fields: dict[str, str],
    before: int | None,
    *,
    errors: dict[str, str],
    status: int,
) -> Response:
    log = unit.service(AuditLog)
    found = None
    if not errors:
        try:
            found = log.page(log.resolved(_typed(unit, fields)), before=before)
        except FormInvalid as error:
            errors = unit.field_messages(error.fields, MESSAGES)
            status = 422
    actions = log.actions()
    prefixes = sorted({action.split(".")[0] + "." for action in actions if "." in action})
    names = log.subject_names(found.rows) if found else {}
    query = {name: value for name, value in fields.items() if value}
    return render(
        unit,
        "console/audit.html",
        status,
        fields=fields,
        errors=errors,
        found=found,
        actions=actions,
        prefixes=prefixes,
        staff=unit.service(Staff).members(),
        links={row.id: subject_path(row, names) for row in (found.rows if found else [])},
        older_link=(
            "/console/audit?" + urlencode({**query, "before": found.older})
            if found and found.older
            else None
        ),
        newest_link=("/console/audit?" + urlencode(query)) if before else None,
    )


@router.get("/console/audit", response_class=HTMLResponse)
def audit_log(
    page: AdminPage,
    actor: str = "",
    actor_email: str = "",
    action: str = "",
    subject_type: str = "",
    subject_id: str = "",
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> Response:
    fields = dict(
        zip(
            FILTER_FIELDS,
            (actor, actor_email, action, subject_type, subject_id, since, until),
            strict=True,
        )
    )
    with page.open() as unit:
        return _page(unit, fields, before, errors={}, status=200)


@router.post("/console/audit/export", response_class=HTMLResponse)
def export(
    page: AdminPage,
    actor: Field = "",
    actor_email: Field = "",
    action: Field = "",
    subject_type: Field = "",
    subject_id: Field = "",
    since: Field = "",
    until: Field = "",
) -> Response:
    """The filtered rows as CSV, streamed from a transaction of their own once the
    export's own audit row is committed."""
    fields = dict(
        zip(
            FILTER_FIELDS,
            (actor, actor_email, action, subject_type, subject_id, since, until),
            strict=True,
        )
    )
    with page.open() as unit:
        log = unit.service(AuditLog)
        try:
            wanted = log.resolved(_typed(unit, fields))
        except FormInvalid as error:
            errors = unit.field_messages(error.fields, MESSAGES)
            return _page(unit, fields, None, errors=errors, status=422)
        unit.audit(
            "audit.exported", subject_type="audit_log", subject_id=None, filter=wanted.as_details()
        )
        filename = f"audit-log-{unit.now:%Y%m%d-%H%M%S}.csv"
    web = page.web

    def chunks() -> Iterator[str]:
        with open_unit(web.database, web.keyring, web.settings, web.now) as reading:
            yield from reading.service(AuditLog).csv_chunks(wanted)

    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
