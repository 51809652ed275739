"""Where a sign-in came from, as far as its address tells: the security page and the
new-sign-in mail show it beside the address itself.

Without a location database (the default) the address is all there is, but for private,
loopback and link-local ranges, which are said to be the local network: that is where a
sign-in through a proxy that does not pass the client's address on also appears
(docs/security.md, "Sign-ins and sessions"). An operator who sets
``LICENSOR_GEOIP_DATABASE`` to a MaxMind GeoLite2 City or Country file (and installs
``maxminddb``) gets "City, Country" too. The file is read once per process and looked
up in memory: no request leaves the machine.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

from licensor.logging import log


@dataclass(frozen=True)
class Place:
    address: str
    local: bool  # a private, loopback or link-local address: "local network"
    located: str | None  # "Milan, Italy" from the location database, when there is one


class Locations(Protocol):
    """A location database: the record of an address (GeoLite2's shape), or None."""

    def get(self, address: str) -> Any: ...


# Private (RFC 1918, RFC 4193), loopback and link-local networks. Not ipaddress's
# ``is_private``, which also counts the documentation ranges and others that are no
# one's local network.
LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def is_local(address: str) -> bool:
    """Whether the address is of a local network, which no location database knows."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return any(parsed in network for network in LOCAL_NETWORKS)


def place_of(address: str, locations: Locations | None, language: str = "en") -> Place:
    """What can be said of where ``address`` is."""
    if is_local(address):
        return Place(address, True, None)
    return Place(address, False, _located(address, locations, language))


def _located(address: str, locations: Locations | None, language: str) -> str | None:
    if locations is None:
        return None
    try:
        ipaddress.ip_address(address)
        record = locations.get(address)
    except ValueError:  # not an address ("unknown"), or one the file cannot hold
        return None
    if not isinstance(record, dict):
        return None
    names = [
        _name(record.get("city"), language),
        _name(record.get("country"), language),
    ]
    return ", ".join(name for name in names if name) or None


def _name(part: Any, language: str) -> str | None:
    if not isinstance(part, dict) or not isinstance(part.get("names"), dict):
        return None
    names = part["names"]
    name = names.get(language) or names.get("en")
    return str(name) if name else None


@lru_cache
def open_locations(path: Path | None) -> Locations | None:
    """The location database at ``path`` (LICENSOR_GEOIP_DATABASE), opened once; None
    when unset, or when it cannot be read (logged: the pages go on without places)."""
    if path is None:
        return None
    try:
        reader: Locations = import_module("maxminddb").open_database(str(path))
    except (ImportError, OSError, ValueError) as error:
        log.warning("accounts.geoip_unavailable", path=str(path), error=str(error))
        return None
    return reader
