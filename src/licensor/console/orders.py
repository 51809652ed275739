"""Orders (``/console/orders``): list and filter; refund through the provider (the codes
blocked, the buyer mailed); partner sales."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
