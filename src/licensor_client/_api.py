"""The Licensor HTTP API as plain calls: JSON in, JSON out, problem+json turned into errors.

Nothing here is trusted yet: the caller verifies what is signed (``_signing``).
"""

from __future__ import annotations

from typing import Any

import httpx

from licensor_client import __version__
from licensor_client.exceptions import (
    SERVER_ERRORS,
    NetworkError,
    ServerError,
    ServerUnavailable,
)


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
            raise NetworkError(f"cannot reach the license server at {self.server}: {error}") from (
                error
            )
        if response.is_success:
            try:
                data = response.json()
            except ValueError as error:
                raise ServerError(
                    response.status_code, "bad_answer", "The server's answer is not JSON"
                ) from error
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
        raise problem_error(response)

    def activate(self, code: str, fingerprint: str, name: str, platform: str) -> dict[str, Any]:
        device = {"fingerprint": fingerprint, "name": name[:200], "platform": platform[:100]}
        return self.call("POST", "/api/v1/activations", {"activation_code": code, "device": device})

    def enroll(self, token: str, fingerprint: str, name: str, platform: str) -> dict[str, Any]:
        device = {"fingerprint": fingerprint, "name": name[:200], "platform": platform[:100]}
        return self.call("POST", "/api/v1/enrollments", {"token": token, "device": device})

    def validate(self, license_key: str, fingerprint: str, nonce: str) -> dict[str, Any]:
        return self.call(
            "POST",
            "/api/v1/licenses/validate",
            {"license_key": license_key, "fingerprint": fingerprint, "nonce": nonce},
        )

    def release(self, license_key: str, fingerprint: str) -> dict[str, Any]:
        return self.call(
            "POST",
            "/api/v1/activations/release",
            {"license_key": license_key, "fingerprint": fingerprint},
        )

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

    def authorize_device(self, fingerprint: str, name: str, platform: str) -> dict[str, Any]:
        return self.call(
            "POST",
            "/api/v1/device/authorize",
            {"fingerprint": fingerprint, "name": name[:200], "platform": platform[:100]},
        )

    def device_token(self, device_code: str) -> dict[str, Any]:
        return self.call("POST", "/api/v1/device/token", {"device_code": device_code})

    def signing_keys(self) -> dict[str, Any]:
        return self.call("GET", "/api/v1/signing-keys")


def problem_error(response: httpx.Response) -> ServerError:
    """The error a refusal stands for, from its problem+json ``code``."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict) or not isinstance(problem.get("code"), str):
        return ServerError(
            response.status_code,
            "server_error",
            f"The license server answered {response.status_code} {response.reason_phrase}",
        )
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
