"""Every page that takes a POST checks its CSRF token, and where it came from, whatever
domain it belongs to.

The domains test their own forms with real fields; this sweep makes sure a new form route
cannot be added without the check. It posts to every non-API POST route of the app, as a
signed-in agent (so no role check answers first), with the CSRF cookie but without the
field, and expects the one CSRF refusal and no change to any table."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.routing import BaseRoute

from licensor.api import create_app
from licensor.config import Settings
from licensor.db import Database
from licensor.errors import CsrfFailed
from licensor.keys import Keyring
from licensor.models import Account, Base
from tests.accounts.factories import (
    CSRF_COOKIE,
    MakeAccount,
    OpenBrowser,
    cookie_attributes,
    set_cookie_headers,
)
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


CROSS_SITE = (
    {"origin": "https://attacker.example"},
    {"origin": "null"},  # a sandboxed frame, a data: URL
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},  # a sibling subdomain is another site's page too
    {"origin": "https://attacker.example", "sec-fetch-site": "same-origin"},
)


def test_every_form_route_refuses_a_cross_site_request_even_with_a_valid_token(
    server: str,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    sign_in_staff: SignInStaff,
) -> None:
    routes = _form_routes(settings, database, keyring)
    agent, _ = sign_in_staff()
    token = agent.csrf_token()  # valid for this browser and session: only the origin is wrong
    before = _row_counts(database)
    for path in routes:
        concrete = PARAMETER.sub("1", path)
        for headers in CROSS_SITE:
            response = agent.client.post(
                concrete, data={"csrf_token": token, "message": "x"}, headers=headers
            )
            assert response.status_code == 403, f"{path} {headers}: {response.status_code}"
            assert html.escape(CsrfFailed.title, quote=True) in response.text, path
    assert _row_counts(database) == before
    # The same token from our own origin is accepted: the origin alone was refused.
    own = {"origin": server, "sec-fetch-site": "same-origin"}
    changed = agent.client.post(
        "/account/settings/language", data={"csrf_token": token, "language": "it"}, headers=own
    )
    assert changed.status_code == 303, changed.text


def test_a_token_from_before_sign_in_is_refused_after_it(
    form_browser: OpenBrowser, make_account: MakeAccount
) -> None:
    visitor = form_browser()
    before_sign_in = visitor.csrf_token()  # what a page seen while signed out carries
    visitor.sign_in(make_account())

    stale = visitor.post("/account/settings/language", {"language": "it"}, token=before_sign_in)
    fresh = visitor.post("/account/settings/language", {"language": "it"})

    assert stale.status_code == 403
    assert html.escape(CsrfFailed.title, quote=True) in stale.text
    assert fresh.status_code == 303, fresh.text


def test_a_token_minted_for_one_session_is_refused_in_another_with_the_same_csrf_cookie(
    form_browser: OpenBrowser, make_account: MakeAccount, database: Database
) -> None:
    # The attacker signs in to their own account and takes its page's token; then plants
    # their CSRF cookie in the victim's browser (a sibling subdomain can set cookies).
    attacker = form_browser()
    attacker.sign_in(make_account())
    token = attacker.csrf_token("/account/settings")
    csrf_cookie = attacker.client.cookies[CSRF_COOKIE]
    victim_account = make_account()
    victim = form_browser()
    victim.sign_in(victim_account)
    victim.client.cookies.set(CSRF_COOKIE, csrf_cookie, domain="127.0.0.1")

    refused = victim.post("/account/settings/language", {"language": "it"}, token=token)

    assert refused.status_code == 403
    with database.transaction() as session:
        assert session.get_one(Account, victim_account.id).language == "en"


def test_over_https_the_csrf_cookie_is_host_prefixed_and_a_plain_one_is_not_trusted(
    server: str, make_account: MakeAccount
) -> None:
    # The TLS proxy in front says https (uvicorn trusts it from loopback); Secure cookies
    # are not sent back over plain HTTP, so they travel by hand here.
    customer = make_account()
    https = {"x-forwarded-proto": "https"}
    with httpx.Client(base_url=server, timeout=30, headers=https) as client:
        form = client.get("/sign-in")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        secret = form.cookies["__Host-licensor_csrf"]
        fields = {"email": customer.email, "password": customer.password, "csrf_token": token}
        planted = client.post(  # the same value under the plain name: an HTTP page's cookie
            "/sign-in", data=fields, headers={"cookie": f"{CSRF_COOKIE}={secret}"}
        )
        signed_in = client.post(
            "/sign-in", data=fields, headers={"cookie": f"__Host-licensor_csrf={secret}"}
        )

    assert set_cookie_headers(form, CSRF_COOKIE) == []
    (header,) = set_cookie_headers(form, "__Host-licensor_csrf")
    attributes = cookie_attributes(header)
    assert "secure" in attributes
    assert attributes["path"] == "/"
    assert "domain" not in attributes
    assert planted.status_code == 403
    assert signed_in.status_code == 303, signed_in.text
