"""What every operation of the API may answer besides its own answers, named in OpenAPI once
here rather than on each route: the ``Idempotency-Key`` header (licensor/idempotency.py),
409 ``idempotency_request_in_progress`` and 422 ``idempotency_key_reused``, 413
``payload_too_large`` (the edge's body limit, licensor/edge.py), 415
``unsupported_media_type`` where the operation reads a JSON body, 422 ``validation_failed``
for a body that is not valid JSON (not UTF-8 included: licensor/api.py), 503
``service_unavailable`` (the database, or a store the answer needs, is away), and the
``Retry-After`` header that every 429 and 503 carries.

tests/test_schemathesis.py holds the server to this document: requests generated from it,
in and out of the schema, get documented answers only, never a 5xx."""

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
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
# Validation fails open when only the rate-limit store is away (docs/adr/0003).
_FAILS_OPEN = {"/api/v1/licenses/validate"}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the shared parameter, problems and headers to every operation of the API."""
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
                _problem(operation, "409", "`idempotency_request_in_progress` (Retry-After)")
                _problem(
                    operation,
                    "422",
                    "`idempotency_key_reused`, `validation_failed` (a field, or a body that "
                    "is not JSON in UTF-8)",
                )
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
            away = "`service_unavailable`: the database is briefly away; try again"
            if path not in _FAILS_OPEN:
                away = (
                    "`service_unavailable`: the database, or a store the answer needs (the "
                    "rate-limit store where a limit guards a secret), is briefly away; "
                    "try again"
                )
            _problem(operation, "503", away)
            for status in ("429", "503"):
                if status in operation["responses"]:
                    operation["responses"][status]["headers"] = _RETRY_AFTER
    return schema


def _problem(operation: dict[str, Any], status: str, codes: str) -> None:
    response = operation.setdefault("responses", {}).setdefault(status, {"content": _PROBLEM})
    described = response.get("description", "").rstrip(". ")
    response["description"] = "; ".join(part for part in (described, codes) if part)
