"""Every page that takes a POST checks its CSRF token, whatever domain it belongs to.

The domains test their own forms with real fields; this sweep makes sure a new form route
cannot be added without the check. It posts to every non-API POST route of the app, as a
signed-in agent (so no role check answers first), with the CSRF cookie but without the
field, and expects the one CSRF refusal and no change to any table."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.routing import BaseRoute

from licensor.api import create_app
from licensor.config import Settings
from licensor.db import Database
from licensor.keys import Keyring
from licensor.models import Base
from licensor.web.csrf import CsrfFailed
from tests.support.factories import SignInStaff

# Routes that are not browser forms: they are authenticated otherwise and tested so.
NOT_FORMS = {
    "/api/",  # JSON API: bearer keys, device proofs, provider signatures
}

PARAMETER = re.compile(r"{[^}]+}")


def _routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x wraps routers
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def _form_routes(settings: Settings, database: Database, keyring: Keyring) -> list[str]:
    app = create_app(settings, database=database, keyring=keyring)
    return sorted(
        route.path
        for route in _routes(app.routes)
        if "POST" in (route.methods or set()) and not route.path.startswith(tuple(NOT_FORMS))
    )


def _row_counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
            if table.name not in ("web_sessions", "audit_events")
        }


def test_every_form_route_refuses_a_post_without_its_csrf_token(
    server: str,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    sign_in_staff: SignInStaff,
) -> None:
    routes = _form_routes(settings, database, keyring)
    # The sweep must see the forms of every domain, or it proves nothing.
    for expected in ("/sign-in", "/account/licenses", "/store/{plan_code}", "/support"):
        assert expected in routes
    assert any(path.startswith("/desk/") for path in routes)

    agent, _ = sign_in_staff()
    agent.csrf_token()  # the browser holds its CSRF cookie; only the field is missing
    before = _row_counts(database)
    for path in routes:
        concrete = PARAMETER.sub("1", path)
        response = agent.client.post(concrete, data={"message": "x"})
        assert response.status_code == 403, f"{path}: {response.status_code}"
        assert html.escape(CsrfFailed.title, quote=True) in response.text, path
    assert _row_counts(database) == before
