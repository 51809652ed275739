"""Schema migrations (Alembic), shipped inside the package so an installed Licensor can
migrate its own database: ``licensor migrate``."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from licensor.config import Settings


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", "licensor:migrations")
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def current(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from licensor.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision
