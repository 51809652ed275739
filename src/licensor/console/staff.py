"""Staff (``/console/staff``): invite agents and admins by mail (two-factor set up at first
sign-in), remove them."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
