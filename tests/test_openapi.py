"""The API's description names what every operation may answer, the problems issue 11
added included: ``code_not_sold``, ``payload_too_large``, ``idempotency_key_reused``,
``service_unavailable`` — and the ``Idempotency-Key`` header every POST accepts; every
operation that reads a JSON body names ``unsupported_media_type`` and answers it."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.licensing.factories import MakeCode, activate, device, try_activate
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


def test_every_operation_names_service_unavailable_and_its_retry_after(api: httpx.Client) -> None:
    for _, path, operation in _operations(api.get("/api/openapi.json").json()):
        responses = operation["responses"]
        assert "service_unavailable" in responses["503"]["description"], path
        for status in ("429", "503"):
            if status in responses:
                assert responses[status]["headers"]["Retry-After"]["required"] is True, path


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


def _body_schema(schema: dict[str, Any], path: str) -> dict[str, Any]:
    content = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    name = content["schema"]["$ref"].rsplit("/", 1)[-1]
    properties: dict[str, Any] = schema["components"]["schemas"][name]["properties"]
    return properties


def test_the_schema_gives_a_code_and_a_key_the_shape_the_server_holds_them_to(
    api: httpx.Client, make_code: MakeCode
) -> None:
    schema = api.get("/api/openapi.json").json()
    code_pattern = _body_schema(schema, "/api/v1/activations")["activation_code"]["pattern"]
    key_pattern = _body_schema(schema, "/api/v1/activations/release")["license_key"]["pattern"]
    assert _body_schema(schema, "/api/v1/account/licenses")["license_key"]["pattern"] == key_pattern
    machine = device()
    activated = activate(api, make_code(), machine)

    for typed in (make_code(), make_code().lower().replace("-", " ")):
        assert re.match(code_pattern, typed), typed
    assert re.match(key_pattern, activated["license_key"])
    # What the schema refuses, the server refuses, with the contract's codes.
    for code in ("", "6JPET", "6JPET-26GV0-A08J5-BT3Z!"):
        assert not re.match(code_pattern, code)
        assert_problem(try_activate(api, code), 422, "code_malformed")
    for key in ("0", "", "not a key"):
        assert not re.match(key_pattern, key)
        release = {"license_key": key, "fingerprint": machine["fingerprint"]}
        answer = api.post("/api/v1/activations/release", json=release)
        assert_problem(answer, 422, "license_key_malformed")


def test_the_device_grant_and_enrollment_name_their_400_and_410(api: httpx.Client) -> None:
    paths = api.get("/api/openapi.json").json()["paths"]
    token = paths["/api/v1/device/token"]["post"]
    enrollment = paths["/api/v1/enrollments"]["post"]

    assert {"400", "410"} <= set(token["responses"])
    assert "authorization_pending" in token["description"]
    assert "device_code_expired" in token["description"]
    assert "410" in enrollment["responses"]
    assert "enrollment_token_invalid" in enrollment["description"]
