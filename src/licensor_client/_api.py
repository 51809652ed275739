"""The Licensor HTTP API as plain calls: JSON in, JSON out, problem+json turned into errors.

Nothing here is trusted yet: the caller verifies what is signed (``_signing``). Whatever
is neither JSON on success nor problem+json with a ``code`` did not come from a Licensor
server (a captive portal's page, a proxy's redirect or error page): it is no verdict, so
it is ``ServerUnavailable``, as if the network were down.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import httpx

from licensor_client._signing import PublicKeys
from licensor_client._version import __version__
from licensor_client.exceptions import (
    SERVER_ERRORS,
    InsecureServer,
    NetworkError,
    ServerError,
    ServerUnavailable,
)

#: A key id as pinned in text (``id:key,id:key``): no separator inside.
_KEY_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def check_server(server: str, allow_insecure_http: bool) -> bool:
    """Refuse a server that anyone on the way could stand in for; say whether its keys
    may be fetched (not over another machine's plain http, even when allowed)."""
    url = httpx.URL(server)
    if url.scheme == "https" and url.host:
        return True
    if url.scheme != "http" or not url.host:
        raise ValueError(f"the server must be an https:// URL, not {server!r}")
    if _is_loopback(url.host):
        return True
    if not allow_insecure_http:
        raise InsecureServer(
            f"{server} is plain http on another machine, where anyone on the way could "
            "answer in its place: use https://, or allow insecure http explicitly"
        )
    return False


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def device(
    fingerprint: str,
    name: str,
    platform: str,
    key: str | None = None,
    components: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A device as every request that names one sends it (the server's length limits);
    ``key``: its public key (base64url), which verifies its license proofs;
    ``components``: the hashed parts of its fingerprint (none for an override)."""
    sent: dict[str, Any] = {
        "fingerprint": fingerprint,
        "name": name[:200],
        "platform": platform[:100],
    }
    if key is not None:
        sent["key"] = key
    if components:
        sent["components"] = dict(components)
    return sent


class Api:
    def __init__(
        self,
        server: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": f"licensor-client/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as error:
            raise NetworkError(
                f"the license server at {self.server} cannot be reached: {error}"
            ) from error
        if response.is_success:
            try:
                data = response.json()
            except ValueError as error:  # a captive portal's page, say
                raise self._no_answer(response) from error
            if not isinstance(data, dict):
                raise ServerError(
                    response.status_code, "bad_answer", "The server's answer is not an object"
                )
            return data
        if response.status_code >= 500:
            raise ServerUnavailable(
                f"the license server at {self.server} is unavailable "
                f"({response.status_code} {response.reason_phrase})"
            )
        refusal = problem_error(response)
        if refusal is None:
            raise self._no_answer(response)
        raise refusal

    def _no_answer(self, response: httpx.Response) -> ServerUnavailable:
        what = f"{response.status_code} {response.reason_phrase}"
        location = response.headers.get("Location")
        if response.is_redirect and location:
            what += f", sent on to {location}"
        elif response.headers.get("Content-Type"):
            what += f", {response.headers['Content-Type'].split(';')[0]}"
        return ServerUnavailable(f"no answer from a Licensor server at {self.server} ({what})")

    def activate(
        self,
        code: str,
        fingerprint: str,
        name: str,
        platform: str,
        key: str | None = None,
        components: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return self.call(
            "POST",
            "/api/v1/activations",
            {
                "activation_code": code,
                "device": device(fingerprint, name, platform, key, components),
            },
        )

    def enroll(
        self, token: str, fingerprint: str, name: str, platform: str, key: str | None = None
    ) -> dict[str, Any]:
        return self.call(
            "POST",
            "/api/v1/enrollments",
            {"token": token, "device": device(fingerprint, name, platform, key)},
        )

    def validate(
        self,
        license_key: str,
        fingerprint: str,
        nonce: str,
        components: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        body = {"license_key": license_key, "fingerprint": fingerprint, "nonce": nonce}
        return self.call("POST", "/api/v1/licenses/validate", _with_parts(body, components))

    def release(
        self, license_key: str, fingerprint: str, components: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        body = {"license_key": license_key, "fingerprint": fingerprint}
        return self.call("POST", "/api/v1/activations/release", _with_parts(body, components))

    def seat_release_link(
        self,
        fingerprint: str,
        name: str,
        platform: str,
        *,
        activation_code: str | None = None,
        license_key: str | None = None,
    ) -> dict[str, Any]:
        """Ask for the one-time link that frees a seat, mailed to the license's owner."""
        body: dict[str, Any] = {"device": device(fingerprint, name, platform)}
        if activation_code is not None:
            body["activation_code"] = activation_code
        else:
            body["license_key"] = license_key
        return self.call("POST", "/api/v1/licenses/seat-release-link", body)

    def link(self, email: str, password: str, license_key: str, fingerprint: str) -> dict[str, Any]:
        return self.call(
            "POST",
            "/api/v1/account/licenses",
            {
                "email": email,
                "password": password,
                "license_key": license_key,
                "fingerprint": fingerprint,
            },
        )

    def authorize_device(
        self, fingerprint: str, name: str, platform: str, license_keys: list[str]
    ) -> dict[str, Any]:
        """Start connecting by a short code; ``license_keys`` (the keys this device holds)
        prove which licenses may join the account: the fingerprint alone proves none."""
        return self.call(
            "POST",
            "/api/v1/device/authorize",
            {**device(fingerprint, name, platform), "license_keys": license_keys},
        )

    def device_token(self, device_code: str) -> dict[str, Any]:
        return self.call("POST", "/api/v1/device/token", {"device_code": device_code})

    def signing_keys(self) -> PublicKeys:
        """The server's public keys, to pin on first use (the caller decides whether it may)."""
        keys = self.call("GET", "/api/v1/signing-keys").get("keys")
        if (
            not isinstance(keys, dict)
            or not keys
            or not all(
                isinstance(key_id, str) and _KEY_ID.match(key_id) and isinstance(key, str)
                for key_id, key in keys.items()
            )
        ):
            raise ServerError(200, "bad_answer", "The server's signing keys are malformed")
        try:
            return PublicKeys(keys)
        except ValueError as error:
            raise ServerError(
                200, "bad_answer", "The server's signing keys are malformed", str(error)
            ) from error


def _with_parts(body: dict[str, Any], components: Mapping[str, str] | None) -> dict[str, Any]:
    """A request naming a device by its fingerprint, with the fingerprint's parts if any:
    a device whose fingerprint changed with one part keeps its seat (docs/protocol.md)."""
    return {**body, "components": dict(components)} if components else body


def problem_error(response: httpx.Response) -> ServerError | None:
    """The error a refusal stands for, from its problem+json ``code``; ``None`` when the
    body is no problem with a code (then it did not come from a Licensor server)."""
    try:
        problem = response.json()
    except ValueError:
        return None
    if not isinstance(problem, dict) or not isinstance(problem.get("code"), str):
        return None
    retry_after = response.headers.get("Retry-After", "")
    error_class = SERVER_ERRORS.get(problem["code"], ServerError)
    return error_class(
        response.status_code,
        problem["code"],
        str(problem.get("title") or problem["code"]),
        problem.get("detail") if isinstance(problem.get("detail"), str) else None,
        problem,
        int(retry_after) if retry_after.isdigit() else None,
    )
