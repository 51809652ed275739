"""The dashboard (``/console``): charts a vendor reads at a glance — activations and
validations a day, new licenses, active devices, revenue, recoveries by channel, the support
queue's size and age — over a date range, each chart's numbers also as a table."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
