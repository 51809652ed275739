"""The Licensor client SDK, shipped inside vendors' apps, and the ``licensor-client`` command.

It talks to a Licensor server over HTTP only and imports nothing from ``licensor``, so an
app carries this package and its few dependencies, never the server.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
