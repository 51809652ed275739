"""The reference app under Textual's pilot, against the real server of ``tests/conftest.py``.

Pilot tests are coroutines run by anyio's pytest plugin (``@pytest.mark.anyio``) on
asyncio, the loop Textual needs. ``machine`` makes one simulated computer: its own state
directory, fingerprint and Pictures folder, so a test can have two.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from licensor_app import LicensorApp
from tests.app.screens import new_app

MakeMachine = Callable[..., LicensorApp]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def machine(server: str, tmp_path: Path) -> MakeMachine:
    """``machine("laptop", language="it", server=...)``: a fresh app on a computer of that
    name (the same name gives the same computer: its state and fingerprint)."""

    def make(name: str = "laptop", **options: str) -> LicensorApp:
        return new_app(options.pop("server", server), tmp_path / name, name=name, **options)

    return make
