"""The audit log (``/console/audit``): filter by actor, action, subject and date; export CSV."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
