"""Licensor: a self-hosted licensing platform for vendors of desktop software."""

__version__ = "0.1.0"
