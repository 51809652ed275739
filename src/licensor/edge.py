"""The edge: what every answer carries, and what no request gets past, before any route.

One pure-ASGI layer around the whole app, the validation fast path included
(docs/adr/0003), so nothing answers without it:

* security headers on every answer (CSP without inline script, nosniff, framing refused,
  HSTS behind an https base URL) and ``Cache-Control: no-store`` on every dynamic answer:
  pages show codes, keys and secrets, and the API hands them out; /static stays cacheable;
* request bodies bounded before they are read: a declared Content-Length over the limit
  is refused at once, a chunked body is counted as it streams; 413 ``payload_too_large``;
* NUL characters, which PostgreSQL refuses in text, refused in paths (404), query strings
  and API bodies (422); page forms are checked once parsed (``web.pages``);
* a state-changing request to a page must come from our own origin (``Origin`` and
  ``Sec-Fetch-Site``, where the browser sends them): the CSRF token's second line;
* a request id (``X-Request-ID``: a safe incoming one kept, else one of ours) in the
  answer's headers and on every log record of the request, and one ``http.request``
  record when it is answered (licensor/logging.py, docs/logging.md).

Its per-request cost is a header scan and a wrapped ``send``: the header lists are built
once, here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import structlog
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from licensor.config import Settings
from licensor.errors import CsrfFailed, LicensorError, NotFound, NulRefused, PayloadTooLarge
from licensor.logging import REQUEST_ID, log, new_request_id, request_id_from

KB = 1024
MB = 1024 * KB
API_BODY_LIMIT = 64 * KB  # the largest honest API body is a few hundred bytes
FORM_BODY_LIMIT = 1 * MB  # a page form, url-encoded
# Multipart forms carry screenshots; the support form checks its own, lower total first
# (support.views.customer_pages.MAX_BODY_BYTES) so that it can say which limit was passed.
MULTIPART_BODY_LIMIT = 20 * MB

CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
# Swagger UI draws its icons from data: URLs; its page alone may show them (its styles
# need nothing more: tests/web/test_api_docs.py finds no violation).
DOCS_CSP = CSP + "; img-src 'self' data:"
DOCS_PATH = "/api/docs"
# Files a browser may keep (the brand's are versioned in the pages' links: web/brand.py).
STATIC_PREFIXES = ("/static/", "/brand.css", "/brand/", "/favicon.")
HSTS = "max-age=31536000; includeSubDomains"

OWN_NAMES = frozenset(
    {
        b"content-security-policy",
        b"x-content-type-options",
        b"referrer-policy",
        b"x-frame-options",
        b"cross-origin-opener-policy",
        b"strict-transport-security",
        b"cache-control",
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_FETCHES = frozenset({b"same-origin", b"none"})
REQUEST_ID_HEADER = b"x-request-id"

Headers = list[tuple[bytes, bytes]]

#: Renders a refusal as its answer (problem+json under /api/, else a page).
Refuse = Callable[[Scope, LicensorError], Response]


def _headers(csp: str, https: bool, no_store: bool) -> Headers:
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),  # stricter would make forms' Origin "null"
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    if no_store:
        headers.append((b"cache-control", b"no-store"))
    return headers


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` as a browser's ``Origin`` header spells it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    port = parts.port
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def has_nul(body: bytes) -> bool:
    """A NUL in a JSON text: raw (never valid JSON) or as the escape ``\\u0000`` (an odd
    run of backslashes before ``u0000``; an even one is an escaped backslash)."""
    if b"\x00" in body:
        return True
    at = body.find(b"\\u0000")
    while at != -1:
        start = at
        while start > 0 and body[start - 1] == 0x5C:
            start -= 1
        if (at - start) % 2 == 0:
            return True
        at = body.find(b"\\u0000", at + 1)
    return False


class _Body:
    """``receive`` for one request: counts the body against its limit and, for the API,
    looks for NUL characters in the whole body before the route sees its last part."""

    __slots__ = ("chunks", "limit", "receive", "refusal", "scan", "seen")

    def __init__(self, receive: Receive, limit: int, scan: bool) -> None:
        self.receive = receive
        self.limit = limit
        self.scan = scan
        self.seen = 0
        self.chunks: list[bytes] = []
        self.refusal: LicensorError | None = None

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] != "http.request":
            return message
        chunk: bytes = message.get("body", b"")
        self.seen += len(chunk)
        if self.seen > self.limit:
            self.refusal = PayloadTooLarge()
            raise self.refusal
        if self.scan:
            if chunk:
                self.chunks.append(chunk)
            if not message.get("more_body", False):
                whole = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
                self.chunks = []
                if has_nul(whole):
                    self.refusal = NulRefused()
                    raise self.refusal
        return message


class _Exchange:
    """One request's answer on its way out: our headers added, or our refusal instead of
    the route's answer when the body broke a rule while the route read it."""

    __slots__ = ("answered", "body", "edge", "extra", "raw_send", "scope", "status")

    def __init__(self, edge: Edge, scope: Scope, send: Send, extra: Headers) -> None:
        self.edge = edge
        self.scope = scope
        self.raw_send = send
        self.extra = extra
        self.body: _Body | None = None
        self.answered = False
        self.status: int | None = None

    async def send(self, message: Message) -> None:
        refusal = self.body.refusal if self.body is not None else None
        if refusal is not None:
            # FastAPI turns an error while reading the body into a 400 of its own; the
            # refusal is the answer instead, and the route's is dropped.
            if message["type"] == "http.response.start" and not self.answered:
                await self.answer(refusal)
            return
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = message.get("headers") or []
            extra = self.extra
            for name, _value in headers:
                if name in OWN_NAMES:
                    # A route's own stricter choice stays (a download's Cache-Control, the
                    # follow page's Referrer-Policy: no-referrer).
                    present = {name for name, _ in headers}
                    extra = [header for header in extra if header[0] not in present]
                    break
            message = {**message, "headers": [*headers, *extra]}
        await self.raw_send(message)

    async def answer(self, refusal: LicensorError) -> None:
        self.answered = True
        response = self.edge.refuse(self.scope, refusal)

        async def send_own(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                message = {**message, "headers": [*(message.get("headers") or []), *self.extra]}
            await self.raw_send(message)

        await response(self.scope, _no_body, send_own)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


class Edge:
    """The ASGI layer described above, around ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        refuse: Refuse,
        *,
        quiet_paths: frozenset[str] = frozenset(),
    ) -> None:
        """``quiet_paths``: where a 200 is not logged (online validation, every installed
        app several times a day: docs/adr/0003); anything else there is."""
        self.app = app
        self.refuse = refuse
        self.quiet_paths = quiet_paths
        https = settings.base_url.lower().startswith("https://")
        self.page_headers = _headers(CSP, https, no_store=True)
        self.static_headers = _headers(CSP, https, no_store=False)
        self.docs_headers = _headers(DOCS_CSP, https, no_store=True)
        self.own_origin = origin_of(settings.base_url).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        if path.startswith(STATIC_PREFIXES):
            extra = self.static_headers
        elif path == DOCS_PATH:
            extra = self.docs_headers
        else:
            extra = self.page_headers
        api = path.startswith("/api/")
        length = -1
        content_type = b""
        origin = fetch_site = host = incoming_id = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif name == b"content-type":
                content_type = value
            elif name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                fetch_site = value
            elif name == b"host":
                host = value
            elif name == REQUEST_ID_HEADER:
                incoming_id = value
        if api:
            limit = API_BODY_LIMIT
        elif content_type.startswith(b"multipart/"):
            limit = MULTIPART_BODY_LIMIT
        else:
            limit = FORM_BODY_LIMIT
        early: LicensorError | None = None
        if "\x00" in path:
            early = NotFound()
        elif b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            early = NulRefused()
        elif (
            not api
            and scope["method"] not in SAFE_METHODS
            and not self._same_origin(scope, origin, fetch_site, host)
        ):
            early = CsrfFailed()
        elif length > limit:
            early = PayloadTooLarge()
        request_id = request_id_from(incoming_id) or new_request_id()
        extra = [*extra, (REQUEST_ID_HEADER, request_id.encode())]
        exchange = _Exchange(self, scope, send, extra)
        # The request's task has a context of its own (so do the threads it hands work to).
        bound = structlog.contextvars.bind_contextvars(**{REQUEST_ID: request_id})
        try:
            await self._pass(scope, receive, exchange, early, api, length, limit)
        finally:
            if exchange.status != 200 or path not in self.quiet_paths:
                _log_request(scope, exchange.status, started)
            structlog.contextvars.reset_contextvars(**bound)

    async def _pass(
        self,
        scope: Scope,
        receive: Receive,
        exchange: _Exchange,
        early: LicensorError | None,
        api: bool,
        length: int,
        limit: int,
    ) -> None:
        """The request on to the app, or refused: at once, or once its body broke a rule."""
        if early is not None:
            await exchange.answer(early)
            return
        if not api and length >= 0:
            # A declared length within the limit: the server reads no more than it says.
            await self.app(scope, receive, exchange.send)
            return
        body = _Body(receive, limit, scan=api)
        exchange.body = body
        try:
            await self.app(scope, body, exchange.send)
        except LicensorError as error:
            if error is not body.refusal:
                raise
        if body.refusal is not None and not exchange.answered:
            await exchange.answer(body.refusal)

    def _same_origin(
        self, scope: Scope, origin: bytes | None, fetch_site: bytes | None, host: bytes | None
    ) -> bool:
        """Whether a state-changing page request came from one of our own pages.

        Browsers send ``Sec-Fetch-Site`` (and ``Origin`` on a POST); a request without
        them (a script, an old browser) is left to the CSRF token alone. A page under
        ``Referrer-Policy: no-referrer`` posts ``Origin: null``: trusted only with the
        browser's own word that it is ``same-origin``."""
        if fetch_site is not None and fetch_site not in SAME_SITE_FETCHES:
            return False
        if origin is None or origin == self.own_origin:
            return True
        if origin == b"null":
            return fetch_site is not None
        if host is None:
            return False
        scheme: str = scope.get("scheme", "http")
        return origin.lower() == scheme.encode() + b"://" + host.lower()


def _log_request(scope: Scope, status: int | None, started: float) -> None:
    """One ``http.request`` record per answer. The path is the route's template when one
    matched: a follow link's token, a capability, stays out of the logs."""
    route = scope.get("route")
    path = getattr(route, "path", None) if route is not None else None
    log.info(
        "http.request",
        method=scope["method"],
        path=path or scope["path"],
        status=status,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
