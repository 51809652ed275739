"""Partners (``/console/partners``): create and edit, allocations, API keys created (shown
once) and revoked."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
