"""What every console page shares: its layout's menu, drawn for the visitor's role."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse

from licensor.console.sections import visible
from licensor.models import Role
from licensor.web.pages import PageUnit


def is_admin(unit: PageUnit) -> bool:
    return unit.account.has_role(Role.ADMIN)


def render(unit: PageUnit, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A console page (its template extends ``console/layout.html``), with the menu of the
    sections this staff member may open."""
    admin = is_admin(unit)
    return unit.render(
        template, status, console_sections=visible(admin), console_admin=admin, **context
    )
