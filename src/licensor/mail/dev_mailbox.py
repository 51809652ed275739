"""When the dev mailbox (``/dev/mail``) exists: one rule, asked by the app, the pages that
link to it, the worker and ``licensor demo``.

It shows every message waiting in the outbox, password resets and sign-in links included,
so it is for a developer's own machine only: ``LICENSOR_DEV_MAILBOX`` on (``licensor
demo`` turns it on), no SMTP server configured, a base URL that is not https (a real
deployment), and each request must reach the server on a loopback listener, from a
loopback address, not through a proxy.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from licensor.config import Settings

SMTP_UNSET = "outbox only: LICENSOR_SMTP_URL is unset"


def mounted(settings: Settings) -> bool:
    """Whether this configuration has a dev mailbox at all."""
    return (
        settings.dev_mailbox
        and not settings.smtp_url
        and not settings.base_url.lower().startswith("https://")
    )


def why_not(settings: Settings) -> str | None:
    """Why a configuration with the dev mailbox asked for has none (None: it has one)."""
    if not settings.dev_mailbox:
        return "LICENSOR_DEV_MAILBOX is off"
    if settings.smtp_url:
        return "LICENSOR_SMTP_URL is set: mail goes out over SMTP"
    if settings.base_url.lower().startswith("https://"):
        return "LICENSOR_BASE_URL is https: a real deployment"
    return None


def loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


_FORWARDED = frozenset({b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-real-ip"})


def reachable(settings: Settings, scope: Any) -> bool:
    """Whether this request may see the dev mailbox: it exists, the request came in on a
    loopback listener, from a loopback address, and not through a proxy (a proxy on the
    same machine makes every outside visitor's connection come from loopback; it says so
    in its forwarding headers)."""
    if not mounted(settings):
        return False
    server, client = scope.get("server"), scope.get("client")
    if not (server and isinstance(server[0], str) and loopback(server[0])):
        return False
    if not (client and isinstance(client[0], str) and loopback(client[0])):
        return False
    return not any(name in _FORWARDED for name, _value in scope.get("headers", []))
