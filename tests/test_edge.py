"""The edge (``licensor.edge``): security headers on every answer, bodies bounded before
they are read, NUL characters and ids past 64 bits refused before the database sees them.

Through HTTP against a real server, as a browser, an app or an attacker would send them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.routing import BaseRoute

from licensor.api import create_app
from licensor.config import Settings
from licensor.db import Database
from licensor.edge import API_BODY_LIMIT, FORM_BODY_LIMIT
from licensor.errors import PayloadTooLarge
from licensor.keys import Keyring
from licensor.models import Activation, Device
from tests.accounts.factories import MakeAccount, OpenBrowser
from tests.licensing.factories import MakeCode, activate, activation, device
from tests.support import assert_problem, serve
from tests.support.factories import MakeRequest, SignInStaff

CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
PAST_64_BITS = (2**63, 2**64, 10**30)


def assert_secured(response: httpx.Response, *, stored: bool = False) -> None:
    """The headers every answer carries; ``stored``: a static file, which may be cached."""
    what = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    assert response.headers.get("content-security-policy") == CSP, what
    assert response.headers.get("x-content-type-options") == "nosniff", what
    assert response.headers.get("referrer-policy") == "same-origin", what
    assert response.headers.get("x-frame-options") == "DENY", what
    assert response.headers.get("cross-origin-opener-policy") == "same-origin", what
    if stored:
        assert "no-store" not in response.headers.get("cache-control", ""), what
    else:
        assert response.headers.get("cache-control") == "no-store", what


# --- headers ---------------------------------------------------------------------------------


def test_every_kind_of_answer_carries_the_security_headers(
    api: httpx.Client, make_code: MakeCode
) -> None:
    machine = device()
    activated = activate(api, make_code(), machine)
    answers = [
        api.get("/"),  # a page
        api.get("/sign-in"),  # a page with a form
        api.get("/api/v1/signing-keys"),  # an API answer
        api.post(  # the validation fast path (docs/adr/0003)
            "/api/v1/licenses/validate",
            json={"license_key": activated["license_key"], "fingerprint": machine["fingerprint"]},
        ),
        api.post("/api/v1/licenses/validate", content=b"{"),  # the fast path's 422
        api.get("/no-such-page"),  # a 404 page
        api.get("/api/v1/no-such-thing"),  # a 404 problem
        api.post("/api/v1/activations", json={}),  # a 422 problem
        api.get("/healthz"),
        api.get("/readyz"),
        api.get("/api/openapi.json"),
    ]
    for answer in answers:
        assert_secured(answer)
        assert "strict-transport-security" not in answer.headers  # plain HTTP here
    assert answers[3].status_code == 200
    assert answers[4].status_code == 422
    assert answers[5].status_code == 404
    assert answers[7].status_code == 422

    static = api.get("/static/style.css")
    assert static.status_code == 200
    assert_secured(static, stored=True)


def test_behind_an_https_base_url_every_answer_asks_for_https_only(
    settings: Settings, database: Database, keyring: Keyring, make_code: MakeCode
) -> None:
    https = settings.model_copy(update={"base_url": "https://licensor.example"})
    app = create_app(https, database=database, keyring=keyring)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        machine = device()
        activated = client.post("/api/v1/activations", json=activation(make_code(), machine))
        answers = [
            client.get("/"),
            client.get("/static/style.css"),
            activated,
            client.post(
                "/api/v1/licenses/validate",
                json={
                    "license_key": activated.json()["license_key"],
                    "fingerprint": machine["fingerprint"],
                },
            ),
            client.get("/nothing-here"),
        ]
    for answer in answers:
        assert answer.headers.get("strict-transport-security") == HSTS, answer.request.url


def test_what_shows_a_code_a_key_or_the_desk_is_never_stored(
    api: httpx.Client,
    make_code: MakeCode,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    sign_in_staff: SignInStaff,
) -> None:
    activated = api.post("/api/v1/activations", json=activation(make_code(), device()))
    assert activated.status_code == 201
    customer = form_browser()
    customer.sign_in(make_account())
    licenses = customer.get("/account/licenses")
    agent, _ = sign_in_staff()
    desk = agent.get("/desk")

    for answer in (activated, licenses, desk):
        assert answer.status_code in (200, 201), answer.text
        assert answer.headers["cache-control"] == "no-store", answer.request.url


# --- bodies ---------------------------------------------------------------------------------


def _chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_an_api_body_over_64_kb_gets_413_whether_declared_or_chunked(
    api: httpx.Client, make_code: MakeCode
) -> None:
    too_big = {"activation_code": make_code(), "device": device(), "padding": "x" * API_BODY_LIMIT}
    declared = api.post("/api/v1/activations", json=too_big)
    fast_path = api.post(
        "/api/v1/licenses/validate",
        content=b'{"license_key": "' + b"0" * API_BODY_LIMIT + b'"}',
        headers={"content-type": "application/json"},
    )
    chunked = api.post(
        "/api/v1/activations",
        content=_chunks(API_BODY_LIMIT + 1),
        headers={"content-type": "application/json"},
    )
    chunked_fast_path = api.post(
        "/api/v1/licenses/validate",
        content=_chunks(10 * API_BODY_LIMIT),
        headers={"content-type": "application/json"},
    )

    for answer in (declared, fast_path, chunked, chunked_fast_path):
        assert_problem(answer, 413, "payload_too_large")
        assert_secured(answer)
    assert "transfer-encoding" in chunked.request.headers  # no length declared: counted
    # Nothing was activated by the oversized request, whose code is still unused.
    retried = api.post(
        "/api/v1/activations",
        json={"activation_code": too_big["activation_code"], "device": device()},
    )
    assert retried.status_code == 201, retried.text


def test_a_page_form_over_1_mb_gets_a_413_page(form_browser: OpenBrowser) -> None:
    visitor = form_browser()
    token = visitor.csrf_token()

    declared = visitor.post(
        "/sign-in", {"email": "a@example.com", "password": "p" * FORM_BODY_LIMIT}, token=token
    )
    chunked = visitor.client.post(
        "/sign-in",
        content=_chunks(FORM_BODY_LIMIT + 1),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    for answer in (declared, chunked):
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert html.escape(PayloadTooLarge.title, quote=True) in answer.text
        assert_secured(answer)
    assert visitor.session_token is None


# --- NUL characters ------------------------------------------------------------------------


def test_nul_characters_are_refused_wherever_they_come_from(
    api: httpx.Client,
    make_code: MakeCode,
    make_account: MakeAccount,
    form_browser: OpenBrowser,
    database: Database,
) -> None:
    code = make_code()
    machine = device()
    machine["name"] = "Laptop\x00"
    in_json = api.post("/api/v1/activations", json=activation(code, machine))
    in_fast_path = api.post(
        "/api/v1/licenses/validate", json={"license_key": "0" * 32, "fingerprint": "f\x00"}
    )
    in_link = api.post(
        "/api/v1/account/licenses",
        json={
            "email": "owner\x00@example.com",
            "password": "a guessed password",
            "license_key": "0" * 32,
            "fingerprint": "f" * 32,
        },
    )
    for answer in (in_json, in_fast_path, in_link):
        assert_problem(answer, 422, "validation_failed")
        assert_secured(answer)

    customer = make_account()
    visitor = form_browser()
    in_form = visitor.post("/sign-in", {"email": customer.email + "\x00", "password": "x" * 16})
    assert in_form.status_code == 422, in_form.text
    assert visitor.session_token is None

    in_query = api.get("/store", params={"q": "x\x00"})
    assert in_query.status_code == 422
    in_path = api.get("/help/how%00to")
    assert in_path.status_code == 404
    in_api_path = api.get("/api/v1/partner/orders/A%00B")
    assert in_api_path.status_code == 404
    for answer in (in_form, in_query, in_path, in_api_path):
        assert_secured(answer)

    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Activation)) == 0
        assert session.scalar(select(func.count()).select_from(Device)) == 0
    # The code refused with a NUL in its device's name is still there to activate, and a
    # name with the text "\u0000" in it (an escaped backslash, no NUL) is no NUL.
    named = device()
    named["name"] = "C:\\u0000 laptop"
    assert activate(api, code, named)["devices_used"] == 1


# --- ids past 64 bits ------------------------------------------------------------------------


def _routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def _routes_with_int_ids(
    settings: Settings, database: Database, keyring: Keyring
) -> list[tuple[str, str, list[str]]]:
    """Every route with an integer in its path: (method, path, the integer parameters)."""
    mailbox = settings.model_copy(update={"dev_mailbox": True})  # /dev/mail/{id} too
    app = create_app(mailbox, database=database, keyring=keyring)
    found = []
    for route in _routes(app.routes):
        ints = [p.name for p in route.dependant.path_params if p.field_info.annotation is int]
        for method in sorted(route.methods or ()):
            if ints:
                found.append((method, route.path, ints))
    return found


def test_every_route_with_an_id_in_its_path_refuses_ids_past_64_bits(
    server: str,
    settings: Settings,
    database: Database,
    keyring: Keyring,
    sign_in_staff: SignInStaff,
) -> None:
    routes = _routes_with_int_ids(settings, database, keyring)
    paths = {path for _, path, _ in routes}
    # The sweep must see the ids of every domain, or it proves nothing.
    for expected in (
        "/account/devices/{device_id}/remove",
        "/account/subscriptions/{subscription_id}/cancel",
        "/desk/codes/{code_id}",
        "/desk/attachments/{attachment_id}",
        "/support/requests/{token}/attachments/{attachment_id}",
        "/dev/mail/{message_id}",
    ):
        assert expected in paths

    agent, _ = sign_in_staff()
    token = agent.csrf_token()
    for method, path, ints in routes:
        for value in PAST_64_BITS:
            concrete = path
            for name in ints:
                concrete = concrete.replace("{" + name + "}", str(value))
            concrete = concrete.replace("{number}", "SUP-AAAA-AAAA").replace("{token}", "x" * 20)
            response = agent.client.request(
                method, concrete, data={"csrf_token": token} if method == "POST" else None
            )
            assert response.status_code in (404, 422), f"{method} {concrete}: {response.text}"


def test_desk_forms_refuse_row_ids_past_64_bits(
    sign_in_staff: SignInStaff, make_request: MakeRequest
) -> None:
    agent, _ = sign_in_staff()
    request = make_request()
    token = agent.csrf_token()
    for action in ("send-code", "attach-code", "attach-order", "release", "replace-code"):
        for value in PAST_64_BITS:
            ids = dict.fromkeys(("code_id", "order_id", "license_id", "activation_id"), str(value))
            response = agent.client.post(
                f"/desk/requests/{request.number}/{action}",
                data={"csrf_token": token, "reason": "a test", **ids},
            )
            assert response.status_code in (404, 422), f"{action} {value}: {response.text}"
