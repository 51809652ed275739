"""The store's pages, by noun: the catalog, the checkout, order lookup, the partner
directory, My Account's subscriptions, and the mailed link that frees a seat."""

from fastapi import APIRouter

from licensor.store.views import (
    catalog,
    checkout,
    order_lookup,
    partners,
    seat_release,
    subscriptions,
)

router = APIRouter(include_in_schema=False)
router.include_router(order_lookup.router)
router.include_router(partners.router)
router.include_router(catalog.router)
router.include_router(checkout.router)
router.include_router(subscriptions.router)
router.include_router(seat_release.router)
