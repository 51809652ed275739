"""The store's JSON API: the partner API, the app's enrollment and its seat on the account's
subscription, and the payment providers' webhook."""

from fastapi import APIRouter

from licensor.store.endpoints import devices, partners, payments

router = APIRouter()
router.include_router(devices.router)
router.include_router(partners.router)
router.include_router(payments.router)
