"""The reference app (``licensor-app``): the windows a customer sees, built on the
``licensor_client`` SDK only, in English and Italian.

Main window → **License** → **Licensing** (plan, status, expiry, devices; Enter activation
code, Show details, Recover my activation codes, Remove license from this device, Save
license backup, Restore license) → **License details** (the 32-digit key, Copy, Save
screenshot) and **Connect to My Account**. See docs/app.md.
"""

from __future__ import annotations

from licensor_app.app import LicensorApp

__all__ = ["LicensorApp"]
