"""The accounts domain's pages, one module by noun: getting in (sign_in), the second factor
(two_factor), My Account's licenses (licenses) and devices (devices), connecting a
device (my_account), sign-ins and sessions (security), and settings. The app mounts
``router``, which holds them all.
"""

from __future__ import annotations

from fastapi import APIRouter

from licensor.accounts.views import (
    devices,
    emails,
    leases,
    licenses,
    my_account,
    reserves,
    security,
    settings,
    sharing,
    sign_in,
    two_factor,
)

router = APIRouter(include_in_schema=False)
for pages in (
    sign_in,
    two_factor,
    my_account,
    licenses,
    leases,
    sharing,
    reserves,
    devices,
    emails,
    security,
    settings,
):
    router.include_router(pages.router)
