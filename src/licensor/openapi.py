"""What every operation of the API may answer besides its own answers, named in OpenAPI once
here rather than on each route: the ``Idempotency-Key`` header (licensor/idempotency.py),
413 ``payload_too_large`` (the edge's body limit, licensor/edge.py), 415
``unsupported_media_type`` where the operation reads a JSON body (licensor/api.py) and 503
``service_unavailable`` (a store the answer needs is away, e.g. the rate-limit store where a
limit protects a guessable secret)."""

from __future__ import annotations

from typing import Any

from licensor.edge import API_BODY_LIMIT
from licensor.idempotency import MAX_KEY_LENGTH

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Any unique value (a UUID) to send again with a retry: within 24 hours the same key "
        "and body get the first answer again (with `Idempotent-Replayed: true`) and nothing "
        "is done twice; the same key with another body is 422 `idempotency_key_reused`; "
        "while the first request runs, 409 `idempotency_request_in_progress`."
    ),
    "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
}
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
# Validation fails open when the rate-limit store is away: it does not answer this 503.
_ALWAYS_ANSWERS = {"/api/v1/licenses/validate"}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the shared parameter and problems to every operation of the API."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
                _problem(operation, "409", "`idempotency_request_in_progress` (Retry-After)")
                _problem(operation, "422", "`idempotency_key_reused`, `validation_failed`")
                _problem(
                    operation,
                    "413",
                    f"`payload_too_large`: the body is over {API_BODY_LIMIT // 1024} KB",
                )
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                _problem(
                    operation,
                    "415",
                    "`unsupported_media_type`: the body is sent as another type than "
                    "`application/json` (or an `application/*+json` one)",
                )
            if path not in _ALWAYS_ANSWERS:
                _problem(
                    operation,
                    "503",
                    "`service_unavailable` (Retry-After): a store the answer needs is briefly "
                    "away; try again",
                )
    return schema


def _problem(operation: dict[str, Any], status: str, codes: str) -> None:
    response = operation.setdefault("responses", {}).setdefault(status, {"content": _PROBLEM})
    described = response.get("description", "").rstrip(". ")
    response["description"] = "; ".join(part for part in (described, codes) if part)
