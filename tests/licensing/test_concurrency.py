"""Seat limits and single-use redemption hold under concurrent requests.

The requests go through the real server (its thread pool and the database pool), all
released at once by a barrier. On PostgreSQL this is what proves the row locks; SQLite
serialises writers, so there it proves the same rules by other means.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select

from licensor.db import Database
from licensor.models import Activation, Device, License
from tests.licensing.factories import device


def _activate_all_at_once(server: str, code: str, devices: list[dict[str, str]]) -> list[Any]:
    """POST one activation per device, every request released at the same instant."""
    barrier = threading.Barrier(len(devices))
    limits = httpx.Limits(max_connections=len(devices), max_keepalive_connections=len(devices))
    with httpx.Client(base_url=server, timeout=60, limits=limits) as client:

        def activate(machine: dict[str, str]) -> httpx.Response:
            barrier.wait()
            return client.post(
                "/api/v1/activations", json={"activation_code": code, "device": machine}
            )

        with ThreadPoolExecutor(max_workers=len(devices)) as pool:
            return list(pool.map(activate, devices))


def _active_seats(database: Database) -> int:
    with database.transaction() as session:
        return (
            session.scalar(
                select(func.count(Activation.id)).where(Activation.released_at.is_(None))
            )
            or 0
        )


def test_fifty_devices_racing_for_three_seats_get_exactly_three(
    server: str, database: Database, make_code: Callable[..., str]
) -> None:
    code = make_code("trio", devices_max=3)

    responses = _activate_all_at_once(server, code, [device(f"PC {n}") for n in range(50)])

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 3, 409: 47}, [r.text for r in responses if r.status_code >= 500]
    refused = [r for r in responses if r.status_code == 409]
    assert {r.json()["code"] for r in refused} == {"device_limit_reached"}
    granted = [r.json() for r in responses if r.status_code == 201]
    # The code was redeemed once: every winner holds the same license.
    assert len({body["license_key"] for body in granted}) == 1
    assert sorted(body["devices_used"] for body in granted) == [1, 2, 3]
    assert _active_seats(database) == 3
    with database.transaction() as session:
        assert session.scalar(select(func.count(License.id))) == 1


def test_one_device_activating_twenty_times_at_once_takes_one_seat(
    server: str, database: Database, make_code: Callable[..., str]
) -> None:
    code = make_code("trio", devices_max=3)
    machine = device("Reinstalled PC")

    responses = _activate_all_at_once(server, code, [machine] * 20)

    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert len({body["license_key"] for body in bodies}) == 1
    assert {body["devices_used"] for body in bodies} == {1}
    assert _active_seats(database) == 1
    with database.transaction() as session:
        assert session.scalar(select(func.count(Device.id))) == 1
        assert session.scalar(select(func.count(License.id))) == 1
