"""problem+json (RFC 9457) bodies and responses, with Licensor's stable ``code``."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from licensor.errors import LicensorError

PROBLEM = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details, with Licensor's stable ``code``."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None


def problem(
    status: int, code: str, title: str, detail: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://licensor.dev/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "code": code,
    }
    if detail and detail != title:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem(status, code, title, detail, **extra),
        status_code=status,
        media_type=PROBLEM,
        headers=headers,
    )


def problem_for(error: LicensorError) -> JSONResponse:
    """A ``LicensorError`` as the API answers it (the app's handler and the validation
    fast path both answer through here)."""
    return problem_response(
        error.status, error.code, error.title, error.detail, error.headers(), **error.extra
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for routes that answer these statuses with a problem."""
    return {status: {"model": Problem, "content": {PROBLEM: {}}} for status in statuses}
