"""The store's pages, by noun: the catalog, the checkout, order lookup, the partner
directory, My Account's subscriptions, the mailed link that frees a seat, and expiry
reminders turned off or on."""

from fastapi import APIRouter

from licensor.store.views import (
    catalog,
    checkout,
    order_lookup,
    orders,
    partners,
    reminders,
    seat_release,
    subscriptions,
)

router = APIRouter(include_in_schema=False)
router.include_router(order_lookup.router)
router.include_router(partners.router)
router.include_router(catalog.router)
router.include_router(checkout.router)
router.include_router(subscriptions.router)
router.include_router(orders.router)
router.include_router(reminders.router)
router.include_router(seat_release.router)
