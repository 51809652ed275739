"""The SDK's version, in a module of its own so that ``_api`` can read it without
importing the package ``__init__`` (which imports ``_api``)."""

from __future__ import annotations

__version__ = "0.1.0"
