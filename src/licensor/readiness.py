"""``GET /readyz``: whether this process can serve, check by check (SPEC "operations").

Ready (200) when the database answers at the schema this version needs, Redis answers
(when set), and the keys sign and are the ones that made the database (licensor/keychecks.py,
the check every start makes); else 503. Mail is reported; only an
``LICENSOR_SMTP_URL`` that cannot be used (not ``smtp[s]://host[:port]``) makes a process
unready. Without SMTP mail waits in the outbox, which is said here and in the start-up log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from licensor.config import Settings
from licensor.db import Database
from licensor.keychecks import mismatch
from licensor.keys import Keyring
from licensor.mail import dev_mailbox
from licensor.mail.sender import SmtpSender
from licensor.ratelimit import RateLimiter, RedisRateLimiter

OK = "ok"
MAIL_UNUSABLE = "LICENSOR_SMTP_URL cannot be used"
_PROBE = b"licensor readiness probe"


@dataclass
class Readiness:
    settings: Settings
    database: Database
    keyring: Keyring
    limiter: RateLimiter
    _head: list[str | None] = field(default_factory=list)  # the schema head, found once

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(ready, body): each check's verdict, "ok" or what is wrong."""
        checks = {
            "database": self._database(),
            "redis": self._redis(),
            "keys": self._keys(),
        }
        ready = all(verdict in (OK, "not configured") for verdict in checks.values())
        checks["mail"] = self._mail()
        ready = ready and not checks["mail"].startswith(MAIL_UNUSABLE)
        return ready, {"status": "ready" if ready else "unavailable", "checks": checks}

    def _schema_head(self) -> str | None:
        if not self._head:
            from licensor.migrate import head

            self._head.append(head(self.settings))
        return self._head[0]

    def _database(self) -> str:
        try:
            with self.database.engine.connect() as connection:
                found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception as error:  # unreachable, refused, no such file or table
            return f"unavailable: {type(error).__name__}"
        expected = self._schema_head()
        if found != expected:
            return f"at schema {found}, this version needs {expected}: run `licensor migrate`"
        return OK

    def _redis(self) -> str:
        if not self.settings.redis_url or not isinstance(self.limiter, RedisRateLimiter):
            return "not configured"
        try:
            self.limiter.ping()
        except Exception as error:
            return f"unavailable: {type(error).__name__}"
        return OK

    def _keys(self) -> str:
        try:
            key_id, signature = self.keyring.sign(_PROBE)
            self.keyring.public_keys()[key_id].verify(signature, _PROBE)
        except Exception as error:
            return f"cannot sign: {type(error).__name__}"
        try:
            with Session(self.database.engine) as session:
                problem = mismatch(session, self.keyring)
        except Exception:
            return OK  # the database check says what is wrong with it
        return OK if problem is None else f"do not match the database: {problem}"

    def _mail(self) -> str:
        if self.settings.smtp_url:
            try:  # parsed as the worker's sender parses it
                SmtpSender(self.settings.smtp_url, self.keyring, self.settings.mail_from)
            except ValueError as error:
                return f"{MAIL_UNUSABLE}: {error}"
            return "smtp"
        if dev_mailbox.mounted(self.settings):
            return "dev mailbox (a development setting): " + dev_mailbox.SMTP_UNSET
        return dev_mailbox.SMTP_UNSET
