"""The store's pages, by noun: the catalog, the checkout, order lookup, the partner
directory, and My Account's subscriptions."""

from fastapi import APIRouter

from licensor.store.views import catalog, checkout, order_lookup, partners, subscriptions

router = APIRouter(include_in_schema=False)
router.include_router(order_lookup.router)
router.include_router(partners.router)
router.include_router(catalog.router)
router.include_router(checkout.router)
router.include_router(subscriptions.router)
