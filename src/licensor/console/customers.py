"""Customers (``/console/customers``): accounts with their licenses, orders and requests;
resend verification; disable; export a customer's data (GDPR access) and erase it."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
