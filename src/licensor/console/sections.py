"""The console's sections, in the order of its navigation, and who sees each: ``admin``
only, or ``staff`` (agents too). A section's routes say the same by their page type
(``AdminPage`` or ``StaffPage``, licensor/web/access.py); this table only draws the menu."""

from __future__ import annotations

from dataclasses import dataclass

from licensor.web.i18n import N_


@dataclass(frozen=True)
class Section:
    path: str
    label: str  # translated where shown
    audience: str  # "admin" or "staff"


SECTIONS = (
    Section("/console", N_("Dashboard"), "admin"),
    Section("/console/plans", N_("Plans"), "admin"),
    Section("/console/batches", N_("Code batches"), "admin"),
    Section("/console/codes", N_("Codes and licenses"), "staff"),
    Section("/console/customers", N_("Customers"), "staff"),
    Section("/console/orders", N_("Orders"), "staff"),
    Section("/console/partners", N_("Partners"), "admin"),
    Section("/console/staff", N_("Staff"), "admin"),
    Section("/console/audit", N_("Audit log"), "admin"),
    Section("/console/webhooks", N_("Webhooks"), "admin"),
)


def visible(is_admin: bool) -> list[Section]:
    """The sections a staff member's menu lists."""
    return [s for s in SECTIONS if is_admin or s.audience == "staff"]
