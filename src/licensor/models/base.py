"""Declarative base, naming convention and the column types every table shares."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A ``StrEnum`` kept as its value in a plain string column: the table (and every
    migration) stays ``VARCHAR(length)`` with the values it always held, and rows read
    back as the enum, not a bare string. A value outside the enum is refused both ways."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 20) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(Id, primary_key=True)


class Leased(IdMixin):
    """A row of work done by ``licensor worker`` under a lease, retried with backoff (the
    outbox's messages, the jobs; licensor/leases.py claims them). Each table adds the
    column that marks a row finished (``sent_at``, ``done_at``)."""

    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims, each an attempt
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the lease
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # given up
    last_error: Mapped[str | None] = mapped_column(Text)
    # The id of the request that queued it, so its logs join the request's (logging.py).
    request_id: Mapped[str | None] = mapped_column(String(64))
