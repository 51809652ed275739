"""Plans (``/console/plans``, admins): the plans with their term, devices, prices,
entitlements and whether the store lists them; a new plan, an edit form per plan, and
"Retire" behind a confirmation. The rules are ``licensing/plans.py``'s, which ``licensor
plans`` calls too; edits and retirements are audited there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from licensor.console.pages import render
from licensor.errors import FormInvalid, PlanExists, PlanFieldInvalid, PlanRetired
from licensor.licensing.plans import parse_price
from licensor.models import Plan
from licensor.web.access import AdminPage
from licensor.web.actions import form_action
from licensor.web.i18n import N_
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

Field = Annotated[str, Form()]

PROBLEMS = {
    "code_malformed": N_("Use lower-case letters, digits, '-' and '_', e.g. plus."),
    "name_missing": N_("Enter the name customers see."),
    "term_days_range": N_("Enter a term from 1 to 36,500 days."),
    "devices_range": N_("Enter a device limit from 1 to 100,000."),
    "number": N_("Enter a whole number."),
    "price_malformed": N_("Enter a price like 29.99, or leave it empty."),
    "price_range": N_("Enter a price of at most 1,000,000."),
    "currency_malformed": N_("Enter a 3-letter currency code, e.g. EUR."),
    "entitlement_malformed": N_(
        "Use names of lower-case letters, digits and '-', at most 40 characters each."
    ),
    "entitlements_many": N_("A plan has at most 50 entitlements."),
    "transfer_limit_with_period": N_(
        "Give both the number of transfers and the period in days, or neither (no limit)."
    ),
    "transfer_limit_range": N_("Enter from 0 to 10,000 transfers."),
    "transfer_period_range": N_("Enter a period from 1 to 3,650 days."),
    "lease_seconds_range": N_("Enter a lease from 60 to 86,400 seconds, or leave it empty."),
}
NOTICES = {
    "created": N_("The plan is created."),
    "saved": N_("The plan is saved."),
    "retired": N_("The plan is retired: the store no longer sells it and it makes no new codes."),
}
FIELDS = (
    "name",
    "term_days",
    "devices_max",
    "price",
    "subscription_price",
    "entitlements",
    "transfer_limit",
    "transfer_period_days",
    "lease_seconds",
)


T = TypeVar("T")


def _fields(action: Callable[[], T]) -> Callable[[], T]:
    """``action`` with a plan's field refused as a form's problem beside that field."""

    def run() -> T:
        try:
            return action()
        except PlanFieldInvalid as error:
            raise FormInvalid(error.fields) from None

    return run


def _number(text: str, field: str) -> int:
    """A whole number typed in a form; else the field's problem."""
    try:
        return int(text.strip())
    except ValueError:
        raise PlanFieldInvalid(field, "number", f"{text!r} is not a whole number") from None


def _optional_number(text: str, field: str) -> int | None:
    """A whole number typed in a form, or None for an empty field (a transfer cap)."""
    return _number(text, field) if text.strip() else None


def _price_text(cents: int | None) -> str:
    return "" if cents is None else f"{cents / 100:.2f}"


def plan_values(plan: Plan) -> dict[str, str]:
    """A plan's fields as its edit form shows them."""
    return {
        "name": plan.name,
        "term_days": str(plan.term_days),
        "devices_max": str(plan.devices_max),
        "price": _price_text(plan.price_cents),
        "subscription_price": _price_text(plan.subscription_price_cents),
        "entitlements": "\n".join(plan.entitlements or []),
        "transfer_limit": "" if plan.transfer_limit is None else str(plan.transfer_limit),
        "transfer_period_days": (
            "" if plan.transfer_period_days is None else str(plan.transfer_period_days)
        ),
        "lease_seconds": "" if plan.lease_seconds is None else str(plan.lease_seconds),
    }


@router.get("/console/plans", response_class=HTMLResponse)
def plans_list(page: AdminPage, done: str = "") -> Response:
    with page.open() as unit:
        return render(
            unit,
            "console/plans.html",
            plans=unit.plans.all(),
            notice=unit._(NOTICES[done]) if done in NOTICES else None,
        )


def new_plan_page(
    unit: PageUnit, status: int = 200, errors: dict[str, str] | None = None, **values: str
) -> HTMLResponse:
    return render(unit, "console/plan_new.html", status, errors=errors or {}, values=values)


@router.get("/console/plans/new", response_class=HTMLResponse)
def plan_new(page: AdminPage) -> Response:
    with page.open() as unit:
        return new_plan_page(unit, term_days="365", devices_max="1", currency="EUR")


@router.post("/console/plans", response_class=HTMLResponse)
def plan_create(
    page: AdminPage,
    code: Field = "",
    name: Field = "",
    term_days: Field = "",
    devices_max: Field = "",
    price: Field = "",
    subscription_price: Field = "",
    currency: Field = "EUR",
    entitlements: Field = "",
    transfer_limit: Field = "",
    transfer_period_days: Field = "",
    lease_seconds: Field = "",
) -> Response:
    values = {
        "code": code,
        "name": name,
        "term_days": term_days,
        "devices_max": devices_max,
        "price": price,
        "subscription_price": subscription_price,
        "currency": currency,
        "entitlements": entitlements,
        "transfer_limit": transfer_limit,
        "transfer_period_days": transfer_period_days,
        "lease_seconds": lease_seconds,
    }
    with page.open() as unit:
        return form_action(
            unit,
            _fields(
                lambda: unit.plans.create(
                    code=code,
                    name=name,
                    term_days=_number(term_days, "term_days"),
                    devices_max=_number(devices_max, "devices_max"),
                    entitlements=[entitlements],
                    price_cents=parse_price(price, field="price"),
                    subscription_price_cents=parse_price(
                        subscription_price, field="subscription_price"
                    ),
                    currency=currency,
                    transfer_limit=_optional_number(transfer_limit, "transfer_limit"),
                    transfer_period_days=_optional_number(
                        transfer_period_days, "transfer_period_days"
                    ),
                    # Empty: a plan that counts devices.
                    lease_seconds=_optional_number(lease_seconds, "lease_seconds"),
                )
            ),
            done=lambda plan: f"/console/plans/{plan.code}?done=created",
            again=lambda status, errors: new_plan_page(unit, status, errors, **values),
            messages=PROBLEMS,
            renamed={"price_cents": "price"},
            refusals={PlanExists: "code"},
        )


def plan_page(
    unit: PageUnit,
    plan: Plan,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    return render(
        unit,
        "console/plan.html",
        status,
        plan=plan,
        errors=errors or {},
        values=values or plan_values(plan),
        notice=notice,
    )


@router.get("/console/plans/{code}", response_class=HTMLResponse)
def plan_view(page: AdminPage, code: str, done: str = "") -> Response:
    with page.open() as unit:
        plan = unit.plans.by_code(code, retired_too=True)
        return plan_page(unit, plan, notice=unit._(NOTICES[done]) if done in NOTICES else None)


@router.post("/console/plans/{code}", response_class=HTMLResponse)
def plan_edit(
    page: AdminPage,
    code: str,
    name: Field = "",
    term_days: Field = "",
    devices_max: Field = "",
    price: Field = "",
    subscription_price: Field = "",
    entitlements: Field = "",
    transfer_limit: Field = "",
    transfer_period_days: Field = "",
    lease_seconds: Field = "",
) -> Response:
    values = {
        "name": name,
        "term_days": term_days,
        "devices_max": devices_max,
        "price": price,
        "subscription_price": subscription_price,
        "entitlements": entitlements,
        "transfer_limit": transfer_limit,
        "transfer_period_days": transfer_period_days,
        "lease_seconds": lease_seconds,
    }
    with page.open() as unit:
        plan = unit.plans.by_code(code, retired_too=True)
        return form_action(
            unit,
            _fields(
                lambda: unit.plans.edit(
                    plan.code,
                    name=name,
                    term_days=_number(term_days, "term_days"),
                    devices_max=_number(devices_max, "devices_max"),
                    # The form holds every field: an empty price takes the plan out of that sale.
                    price_cents=parse_price(price, field="price"),
                    subscription_price_cents=parse_price(
                        subscription_price, field="subscription_price"
                    ),
                    entitlements=entitlements,
                    # Both empty: no transfer limit.
                    transfer_limit=_optional_number(transfer_limit, "transfer_limit"),
                    transfer_period_days=_optional_number(
                        transfer_period_days, "transfer_period_days"
                    ),
                    # Empty: a plan that counts devices.
                    lease_seconds=_optional_number(lease_seconds, "lease_seconds"),
                )
            ),
            done=f"/console/plans/{plan.code}?done=saved",
            again=lambda status, errors: plan_page(unit, plan, status, errors, values),
            messages=PROBLEMS,
        )


@router.get("/console/plans/{code}/retire", response_class=HTMLResponse)
def plan_retire_confirm(page: AdminPage, code: str) -> Response:
    with page.open() as unit:
        plan = unit.plans.by_code(code, retired_too=True)
        return render(unit, "console/plan_retire.html", plan=plan, errors={})


@router.post("/console/plans/{code}/retire", response_class=HTMLResponse)
def plan_retire(page: AdminPage, code: str) -> Response:
    with page.open() as unit:
        plan = unit.plans.by_code(code, retired_too=True)
        return form_action(
            unit,
            lambda: unit.plans.retire(plan.code),
            done="/console/plans?done=retired",
            again=lambda status, errors: render(
                unit, "console/plan_retire.html", status, plan=plan, errors=errors
            ),
            messages=PROBLEMS,
            refusals={PlanRetired: "retire"},
        )
