from __future__ import annotations

from typing import Any

import httpx

from tests.licensing.factories import device


def test_a_fresh_code_activates_and_validates(api: httpx.Client, make_code: Any) -> None:
    laptop = device()
    activated = api.post(
        "/api/v1/activations", json={"activation_code": make_code(), "device": laptop}
    )
    assert activated.status_code == 201, activated.text
    key = activated.json()["license_key"]
    answer = api.post(
        "/api/v1/licenses/validate",
        json={"license_key": key, "fingerprint": laptop["fingerprint"], "nonce": "n-1"},
    ).json()
    assert answer["valid"] is True
    assert answer["status"] == "active"
    assert answer["nonce"] == "n-1"
