"""Partners (``/console/partners``, admins): list and create; a page per partner with its
contact details (edited), allocations, sales and API keys. A new key is shown once, on the
answer to the form that made it (never in a redirect's address, never stored: only its
hash is kept); a key is revoked after a confirmation. The rules are ``store/partners.py``'s,
which ``licensor partners`` calls too."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from licensor.console.orders import CHANNEL_LABELS, PROBLEMS, STATUS_LABELS
from licensor.console.pages import render
from licensor.errors import PartnerExists
from licensor.models import Partner
from licensor.store.order_admin import OrderAdmin, OrderFilters
from licensor.store.orders import money
from licensor.web.access import AdminPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

SALES_SHOWN = 20
NOTICES = {
    "created": N_("The partner is created."),
    "saved": N_("The partner's details are saved."),
    "revoked": N_("The key is revoked: the partner API refuses it from now on."),
}
CONTACT_FIELDS = ("name", "email", "url", "phone")


@router.get("/console/partners", response_class=HTMLResponse)
def partners_list(page: AdminPage) -> Response:
    with page.open() as unit:
        return render(unit, "console/partners.html", partners=unit.partners.all())


def new_partner_page(
    unit: PageUnit, status: int = 200, errors: dict[str, str] | None = None, **values: str
) -> HTMLResponse:
    return render(unit, "console/partner_new.html", status, errors=errors or {}, values=values)


@router.get("/console/partners/new", response_class=HTMLResponse)
def partner_new(page: AdminPage) -> Response:
    with page.open() as unit:
        return new_partner_page(unit)


@router.post("/console/partners", response_class=HTMLResponse)
def partner_create(
    page: AdminPage,
    slug: Field = "",
    name: Field = "",
    email: Field = "",
    url: Field = "",
    phone: Field = "",
) -> Response:
    values = {"slug": slug, "name": name, "email": email, "url": url, "phone": phone}
    with page.open() as unit:
        return form_action(
            unit,
            lambda: unit.partners.create(**values, actor=unit.actor),
            done=lambda partner: f"/console/partners/{partner.slug}?done=created",
            again=lambda status, errors: new_partner_page(unit, status, errors, **values),
            messages=PROBLEMS,
            refusals={PartnerExists: "slug"},
        )


def partner_page(
    unit: PageUnit,
    partner: Partner,
    status: int = 200,
    *,
    notice: str = "",
    errors: dict[str, str] | None = None,
    new_key: str = "",
) -> HTMLResponse:
    sales = unit.service(OrderAdmin).search(OrderFilters(partner=partner.slug), limit=SALES_SHOWN)
    response = render(
        unit,
        "console/partner.html",
        status,
        partner=partner,
        allocations=unit.partners.allocations(partner),
        keys=unit.partners.keys(partner),
        sales=sales,
        statuses=STATUS_LABELS,
        channels=CHANNEL_LABELS,
        money=lambda cents, currency: money(cents, currency, unit.language),
        notice=unit._(NOTICES[notice]) if notice in NOTICES else "",
        errors=errors or {},
        new_key=new_key,
    )
    # Every partner page: one of them may hold a key shown once, none may be kept.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/console/partners/{slug}", response_class=HTMLResponse)
def partner_view(page: AdminPage, slug: str, done: str = "") -> Response:
    with page.open() as unit:
        return partner_page(unit, unit.partners.by_slug(slug), notice=done)


def edit_page(
    unit: PageUnit,
    partner: Partner,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    shown = values or {field: getattr(partner, field) for field in CONTACT_FIELDS}
    return render(
        unit,
        "console/partner_edit.html",
        status,
        partner=partner,
        errors=errors or {},
        values=shown,
    )


@router.get("/console/partners/{slug}/edit", response_class=HTMLResponse)
def partner_edit(page: AdminPage, slug: str) -> Response:
    with page.open() as unit:
        return edit_page(unit, unit.partners.by_slug(slug))


@router.post("/console/partners/{slug}/edit", response_class=HTMLResponse)
def partner_save(
    page: AdminPage,
    slug: str,
    name: Field = "",
    email: Field = "",
    url: Field = "",
    phone: Field = "",
) -> Response:
    values = {"name": name, "email": email, "url": url, "phone": phone}
    with page.open() as unit:
        partner = unit.partners.by_slug(slug)
        return form_action(
            unit,
            lambda: unit.partners.update(partner, **values, actor=unit.actor),
            done=f"/console/partners/{partner.slug}?done=saved",
            again=lambda status, errors: edit_page(unit, partner, status, errors, values),
            messages=PROBLEMS,
        )


@router.post("/console/partners/{slug}/keys", response_class=HTMLResponse)
def key_create(page: AdminPage, slug: str, label: Field = "") -> Response:
    with page.open() as unit:
        partner = unit.partners.by_slug(slug)
        # The key is on this answer only (no redirect: its address would carry it).
        return form_action(
            unit,
            lambda: unit.partners.create_key(partner, label=label, actor=unit.actor),
            done=lambda key: partner_page(unit, partner, new_key=key),
            again=lambda status, errors: partner_page(unit, partner, status, errors=errors),
            messages=PROBLEMS,
            form="key_",
        )


@router.get("/console/partners/{slug}/keys/{prefix}/revoke", response_class=HTMLResponse)
def key_revoke_confirm(page: AdminPage, slug: str, prefix: str) -> Response:
    with page.open() as unit:
        partner = unit.partners.by_slug(slug)
        key = unit.partners.key(partner, prefix)
        return render(unit, "console/partner_key_revoke.html", partner=partner, key=key)


@router.post("/console/partners/{slug}/keys/{prefix}/revoke", response_class=HTMLResponse)
def key_revoke(page: AdminPage, slug: str, prefix: str) -> Response:
    with page.open() as unit:
        partner = unit.partners.by_slug(slug)
        key = unit.partners.key(partner, prefix)  # only this partner's
        unit.partners.revoke_key(key.prefix, actor=unit.actor)
        return unit.redirect(f"/console/partners/{partner.slug}?done=revoked")
