"""The dashboard (``/console``): charts a vendor reads at a glance — activations and
validations a day, new licenses, devices holding a seat, revenue, recoveries by channel, the
support queue's size and age — over a date range, each chart's numbers also as a table.

Admins only: an agent opening ``/console`` is sent on to the sections agents work in. The
figures are the domains' own counts (``console/figures.py``), the same that ``licensor report
figures`` prints; this module only writes them in the page's language and draws them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from babel.dates import format_skeleton, format_timedelta
from babel.numbers import format_decimal
from fastapi import APIRouter, Query
from fastapi.responses import Response

from licensor.console import charts
from licensor.console.figures import Figures, figures, today
from licensor.console.pages import is_admin, render
from licensor.daily import PRESETS, DayRange, typed_range
from licensor.dates import typed_text
from licensor.errors import FormInvalid
from licensor.store.orders import money
from licensor.web.access import StaffPage
from licensor.web.i18n import N_
from licensor.web.messages import FIELD_MESSAGES
from licensor.web.pages import PageUnit

router = APIRouter(include_in_schema=False)

AGENTS_START = "/console/codes"  # the first section an agent may open (sections.py)

CHANNEL_LABELS = {
    "account_link": N_("Account link"),
    "order_lookup": N_("Order lookup"),
    "partner_pointer": N_("Partner pointer"),
    "support_desk": N_("Support desk"),
    "self_service_replace": N_("Self-service replace"),
}


@dataclass
class ChartView:
    """One chart as the template draws it: heading, gist (its accessible name), the
    drawing, and its table's caption, column heading and rows."""

    id: str
    heading: str
    gist: str
    chart: charts.Chart
    caption: str
    column: str
    rows: list[tuple[str, str]]
    note: str = ""
    by_name: bool = False  # bars by name (recoveries), not a column a day
    names: list[str] = field(default_factory=list)


@router.get("/console")
def dashboard(
    page: StaffPage,
    first: str = Query("", alias="from"),
    last: str = Query("", alias="to"),
    days: str = "",
) -> Response:
    """The dashboard over the range asked for (the last 30 days when none is)."""
    with page.open() as unit:
        if not is_admin(unit):
            return unit.redirect(AGENTS_START)
        typed = {"from": first, "to": last}
        try:
            if days in {str(preset) for preset in PRESETS} and not (first or last):
                shown = DayRange.last_days(int(days), today(unit))
            else:
                shown = typed_range(unit.typed_date(first), unit.typed_date(last), today(unit))
        except FormInvalid as error:
            errors = unit.field_messages(error.fields, FIELD_MESSAGES)
            return render(
                unit, "console/dashboard.html", 422, fields=typed, errors=errors, presets=PRESETS
            )
        typed = {
            "from": typed_text(shown.first, unit.language),
            "to": typed_text(shown.last, unit.language),
        }
        return render(
            unit,
            "console/dashboard.html",
            fields=typed,
            errors={},
            presets=PRESETS,
            preset=len(shown) if shown == DayRange.last_days(len(shown), today(unit)) else None,
            **dashboard_view(unit, figures(unit, shown)),
        )


def dashboard_view(unit: PageUnit, shown: Figures) -> dict[str, Any]:
    """What the template shows of the figures, written in the page's language."""
    language = unit.language
    days = shown.days

    def number(value: float) -> str:
        return format_decimal(value, locale=language)

    def day_text(day: date) -> str:
        return unit.format_date(day)

    short_days = [format_skeleton("MMMd", day, locale=language) for day in days.days]
    range_text = {"first": day_text(days.first), "last": day_text(days.last)}

    def a_day(
        id: str, heading: str, values: list[int], column: str, write: Any = number
    ) -> ChartView:
        total = sum(values)
        if any(values):
            most = max(range(len(values)), key=lambda index: values[index])
            gist = unit._(
                "{chart} from {first} to {last}: {total} in all, the most on {day} ({count})."
            ).format(
                chart=heading,
                total=write(total),
                day=day_text(days.days[most]),
                count=write(values[most]),
                **range_text,
            )
        else:
            gist = unit._("{chart} from {first} to {last}: none.").format(
                chart=heading, **range_text
            )
        return ChartView(
            id=id,
            heading=heading,
            gist=gist,
            chart=charts.columns(values, short_days, write),
            caption=unit._("{chart}, a day").format(chart=heading),
            column=column,
            rows=[
                (day_text(day), write(value)) for day, value in zip(days.days, values, strict=True)
            ],
        )

    views = [
        a_day("activations", unit._("Activations a day"), shown.activations, unit._("Activations")),
        a_day("validations", unit._("Validations a day"), shown.validations, unit._("Validations")),
        a_day("licenses", unit._("New licenses a day"), shown.new_licenses, unit._("New licenses")),
    ]
    devices = a_day("devices", unit._("Devices holding a seat"), shown.devices, unit._("Devices"))
    devices.gist = unit._(
        "Devices holding a seat from {first} to {last}: {start} on the first day, "
        "{end} on the last."
    ).format(start=number(shown.devices[0]), end=number(shown.devices[-1]), **range_text)
    devices.note = unit._(
        "A device holds a seat from its activation until the seat is released (in the app, "
        "in My Account or by support); counted at the end of each day (UTC)."
    )
    views.append(devices)
    for currency, cents in shown.revenue.items():

        def write(value: float, currency: str = currency) -> str:
            return money(int(value), currency, language)

        revenue = a_day(
            f"revenue-{currency.lower()}",
            unit._("Revenue in {currency} a day").format(currency=currency),
            cents,
            unit._("Revenue"),
            write,
        )
        revenue.note = unit._(
            "Store orders on the day they were paid, tax included, less refunds on the day "
            "they were made."
        )
        views.append(revenue)
    views.append(
        a_day(
            "requests", unit._("New support requests a day"), shown.new_requests, unit._("Requests")
        )
    )

    channels = [unit._(CHANNEL_LABELS[name]) for name in shown.recoveries]
    counts = list(shown.recoveries.values())
    recoveries = ChartView(
        id="recoveries",
        heading=unit._("Recoveries by channel"),
        gist=unit._("Codes recovered from {first} to {last}, by channel: {counts}.").format(
            counts=", ".join(
                f"{name} {number(count)}" for name, count in zip(channels, counts, strict=True)
            ),
            **range_text,
        ),
        chart=charts.rows(counts, number),
        caption=unit._("Recoveries by channel"),
        column=unit._("Recoveries"),
        rows=[(name, number(count)) for name, count in zip(channels, counts, strict=True)],
        by_name=True,
        names=channels,
    )
    return {
        "charts": views,
        "no_revenue": not shown.revenue,
        "recoveries": recoveries,
        "totals": totals(unit, shown, number),
        "queue": queue_view(unit, shown, number),
        "range_text": range_text,
    }


def totals(unit: PageUnit, shown: Figures, number: Any) -> list[str]:
    """The headline figures, a sentence each."""
    activations = sum(shown.activations)
    validations = sum(shown.validations)
    licenses = sum(shown.new_licenses)
    devices = shown.devices[-1]
    recovered = sum(shown.recoveries.values())
    waiting = shown.queue.size
    lines = [
        unit.ngettext(
            "{count} activation in this range", "{count} activations in this range", activations
        ).format(count=number(activations)),
        unit.ngettext(
            "{count} validation in this range", "{count} validations in this range", validations
        ).format(count=number(validations)),
        unit.ngettext(
            "{count} new license in this range", "{count} new licenses in this range", licenses
        ).format(count=number(licenses)),
        unit.ngettext(
            "{count} device holding a seat at the end",
            "{count} devices holding a seat at the end",
            devices,
        ).format(count=number(devices)),
    ]
    lines += [
        unit._("{amount} in revenue").format(amount=money(sum(cents), currency, unit.language))
        for currency, cents in shown.revenue.items()
    ]
    lines += [
        unit.ngettext("{count} code recovered", "{count} codes recovered", recovered).format(
            count=number(recovered)
        ),
        unit.ngettext(
            "{count} support request not yet solved",
            "{count} support requests not yet solved",
            waiting,
        ).format(count=number(waiting)),
    ]
    return lines


def queue_view(unit: PageUnit, shown: Figures, number: Any) -> list[tuple[str, str]]:
    """The support queue now, as label and value."""

    def age(value: timedelta | None) -> str:
        if value is None:
            return "—"
        return format_timedelta(value, threshold=1.5, locale=unit.language)

    queue = shown.queue
    return [
        (unit._("Requests not yet solved"), number(queue.size)),
        (unit._("Oldest waiting"), age(queue.oldest_age)),
        (unit._("Median age"), age(queue.median_age)),
    ]
