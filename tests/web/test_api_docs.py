"""``/api/docs`` works offline: Swagger UI comes from files installed with Licensor, and the
page runs under its Content-Security-Policy without a violation."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import ConsoleMessage, Page, Route, expect

# Installed before any script of the page runs (outside its CSP): collects violations.
COLLECT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def test_the_api_docs_render_every_operation_with_no_other_host_and_no_csp_violation(
    page: Page, server: str
) -> None:
    own_host = urlsplit(server).netloc
    elsewhere: list[str] = []
    console_errors: list[str] = []

    def only_our_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own_host:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.route("**/*", only_our_server)
    page.on("console", on_console)
    page.add_init_script(COLLECT_VIOLATIONS)

    answer = page.goto("/api/docs")

    assert answer is not None
    assert answer.status == 200
    policy = answer.headers["content-security-policy"]
    assert "script-src" not in policy  # default-src 'self': no inline script, here too
    assert "unsafe-inline" not in policy
    assert policy.endswith("img-src 'self' data:")  # Swagger UI's icons, this page alone
    expect(page.get_by_text("/api/v1/activations", exact=True)).to_be_visible()
    expect(page.get_by_text("/api/v1/licenses/validate", exact=True)).to_be_visible()
    page.get_by_text("/api/v1/activations", exact=True).click()  # an operation opens
    expect(page.get_by_text("Try it out")).to_be_visible()
    assert elsewhere == []
    assert page.evaluate("window.__violations") == []
    assert [error for error in console_errors if "Content Security Policy" in error] == []
