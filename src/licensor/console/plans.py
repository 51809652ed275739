"""Plans (``/console/plans``): create, edit, retire; price, term, device limit, entitlements,
the store listing."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
