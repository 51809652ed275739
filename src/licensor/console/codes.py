"""Codes and licenses (``/console/codes``): search by code, key, public ID, email or order; a
page each with history, devices and the account; block, unblock, extend the term, release
seats, each audited with a reason."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
