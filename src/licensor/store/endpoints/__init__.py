"""The store's JSON API: the partner API, the app's enrollment and its seat on the account's
subscription, the payment providers' webhook, the merchant-of-record stores'
fulfilment webhook, and the link that frees a seat."""

from fastapi import APIRouter

from licensor.store.endpoints import devices, fulfilment, partners, payments, seat_release

router = APIRouter()
router.include_router(devices.router)
router.include_router(fulfilment.router)
router.include_router(partners.router)
router.include_router(payments.router)
router.include_router(seat_release.router)
