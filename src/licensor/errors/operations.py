"""Errors that stop a command, a job or the server's start, and are never answered to a
client: not ``LicensorError``s, so they carry no status or code."""

from __future__ import annotations


class KeyMaterialError(RuntimeError):
    """Key material is missing, malformed, or does not match what the data needs."""


class KeyMismatch(KeyMaterialError):
    """The keys given are not the ones that made this database (licensor/keychecks.py):
    serving with them would answer "unknown" for every license it holds."""


class AuditKeyMissing(RuntimeError):
    """A transaction wrote audit rows on a session that cannot reach the chain key."""


class BatchCutShort(RuntimeError):
    """A card batch stopped before all its codes were committed (interrupted, the
    database gone): it is incomplete, and the message says how to finish or remove it."""


class JobFailed(Exception):
    """Raised by a handler when trying again cannot help (the input itself is bad)."""


class PaymentSetupError(RuntimeError):
    """The payment provider is missing or not allowed here; the server does not start."""


class UnknownRevision(RuntimeError):
    """The database was migrated by a newer Licensor than this one."""


class TooManyConnections(RuntimeError):
    """``licensor serve``'s processes would open more database connections than this
    host's share of what the server allows (licensor/db.py: ``connection_budget``)."""
