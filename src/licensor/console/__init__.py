"""The vendor console at /console: the business run from a browser (docs/console.md).

A face, like the CLI: its pages call the same services the ``licensor`` commands do, in
each domain (licensing, accounts, store, support), and never hold rules of their own.
Admins see every section; agents the ones their work needs (codes and licenses,
customers, orders), as ``sections.py`` says. One module a section; templates under
``console/templates/console/``.
"""

from __future__ import annotations

from fastapi import APIRouter

from licensor.console import (
    audit_log,
    batches,
    codes,
    customers,
    dashboard,
    leases,
    orders,
    partners,
    plans,
    staff,
    webhooks,
)

router = APIRouter(include_in_schema=False)
for section in (
    dashboard,
    plans,
    batches,
    codes,
    leases,
    customers,
    orders,
    partners,
    staff,
    audit_log,
    webhooks,
):
    router.include_router(section.router)
