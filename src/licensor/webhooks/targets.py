"""Where a webhook may be sent: http(s) only, and never to this host or the vendor's own
network, where a forged endpoint would reach services that trust their neighbours (SSRF).

The host is resolved when the endpoint is made and again at each delivery, and the
delivery connects to the very address checked (``pinned``): a name that resolved to a
public address when checked cannot be re-pointed at 127.0.0.1 in between (DNS rebinding).
``LICENSOR_WEBHOOKS_ALLOW_PRIVATE=on`` lifts the address check (tests, intranets).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from licensor.errors import WebhookUrlRefused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable webhook URL, else ``WebhookUrlRefused``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as error:  # an unclosed IPv6 bracket, for one
        raise WebhookUrlRefused("the URL is not valid") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused("only http:// and https:// URLs with a host are accepted")
    if parts.username or parts.password:
        raise WebhookUrlRefused("a webhook URL carries no user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise WebhookUrlRefused("the URL's port is not valid") from error
    return parts.scheme, parts.hostname, port


def is_public(address: Address) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local
    (cloud metadata at 169.254.169.254), multicast, reserved or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[Address]:
    """The addresses ``host`` has now; ``WebhookUrlRefused`` when it has none."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise WebhookUrlRefused(f"the host {host} cannot be resolved") from error
    addresses = [ipaddress.ip_address(str(entry[4][0]).split("%")[0]) for entry in found]
    if not addresses:
        raise WebhookUrlRefused(f"the host {host} cannot be resolved")
    return addresses


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to for it."""

    scheme: str
    host: str
    port: int
    address: Address


def pinned(url: str, *, allow_private: bool) -> Target:
    """Check ``url`` and resolve its host: every address it has must be public unless
    ``allow_private``. The first is the one to connect to."""
    scheme, host, port = check_url(url)
    addresses = resolve(host, port)
    if not allow_private:
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            raise WebhookUrlRefused(
                f"{host} is on a private, loopback or reserved network ({refused[0]}); "
                "set LICENSOR_WEBHOOKS_ALLOW_PRIVATE=on to allow it"
            )
    return Target(scheme, host, port, addresses[0])
