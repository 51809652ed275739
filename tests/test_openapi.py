"""The API's description names what every operation may answer, the problems issue 11
added included: ``code_not_sold``, ``payload_too_large``, ``idempotency_key_reused``,
``service_unavailable`` — and the ``Idempotency-Key`` header every POST accepts; every
operation that reads a JSON body names ``unsupported_media_type`` and answers it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import assert_problem


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/")
        for method, operation in item.items()
    ]


def test_every_post_names_the_idempotency_key_and_the_body_limit(api: httpx.Client) -> None:
    posts = [
        op for method, _, op in _operations(api.get("/api/openapi.json").json()) if method == "post"
    ]
    assert len(posts) >= 8
    for operation in posts:
        names = [parameter["name"] for parameter in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, operation["operationId"]
        responses = operation["responses"]
        assert "idempotency_key_reused" in responses["422"]["description"]
        assert "idempotency_request_in_progress" in responses["409"]["description"]
        assert "payload_too_large" in responses["413"]["description"]
        assert responses["413"]["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


def test_every_operation_with_a_json_body_names_and_answers_unsupported_media_type(
    api: httpx.Client,
) -> None:
    with_json_body = [
        (method, path, operation)
        for method, path, operation in _operations(api.get("/api/openapi.json").json())
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(with_json_body) >= 8
    # A well-formed partner key, never issued: the partner API looks at the body before it
    # proves the key, as it always did.
    partner_key = {"authorization": "Bearer lp_00000000_" + "x" * 24}
    for method, path, operation in with_json_body:
        assert "unsupported_media_type" in operation["responses"]["415"]["description"], path
        answer = api.request(
            method,
            path,
            content=b"{}",
            headers={"content-type": "text/plain", **partner_key},
        )
        assert_problem(answer, 415, "unsupported_media_type")


def test_every_operation_but_validation_names_service_unavailable(api: httpx.Client) -> None:
    for _, path, operation in _operations(api.get("/api/openapi.json").json()):
        responses = operation["responses"]
        if path == "/api/v1/licenses/validate":
            assert "503" not in responses  # validation keeps answering (fails open)
        else:
            assert "service_unavailable" in responses["503"]["description"], path


def test_activation_names_code_not_sold(api: httpx.Client) -> None:
    activation = api.get("/api/openapi.json").json()["paths"]["/api/v1/activations"]["post"]
    assert "403" in activation["responses"]
    assert "code_not_sold" in activation["description"]


def test_a_method_a_path_does_not_take_is_405_with_every_method_it_takes(
    api: httpx.Client,
) -> None:
    for method, path, allowed in (
        ("GET", "/api/v1/licenses/validate", "POST"),  # the fast path's own path
        ("DELETE", "/api/v1/activations", "POST"),
        ("PUT", "/api/v1/partner/orders", "POST"),
        ("POST", "/api/v1/signing-keys", "GET"),
    ):
        answer = api.request(method, path)
        assert_problem(answer, 405, "method_not_allowed")
        assert answer.headers["allow"] == allowed, path
    page = api.request("DELETE", "/support")  # a page: GET shows it, POST sends it
    assert page.status_code == 405
    assert set(page.headers["allow"].split(", ")) >= {"GET", "POST"}


def test_a_body_that_is_not_utf8_is_a_documented_validation_failure(api: httpx.Client) -> None:
    not_utf8 = b'{"license_key": "\xff\xfe", "fingerprint": "f"}'
    for path in ("/api/v1/licenses/validate", "/api/v1/activations", "/api/v1/enrollments"):
        answer = api.post(path, content=not_utf8, headers={"content-type": "application/json"})
        body = assert_problem(answer, 422, "validation_failed")
        assert "not UTF-8" in body["errors"][0]["message"]
