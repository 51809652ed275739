"""Code batches (``/console/batches``): issue one (a background job, its progress on a page
that refreshes itself), download the printer's CSV once (audited), block a batch whole,
allocate one to a partner."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
