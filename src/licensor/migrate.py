"""Schema migrations (Alembic), shipped inside the package so an installed Licensor can
migrate its own database: ``licensor migrate``."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from licensor.config import Settings
from licensor.errors import UnknownRevision


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", "licensor:migrations")
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision``; ``UnknownRevision`` when the database is at a
    revision this version does not ship (a newer version migrated it)."""
    found = current(settings)
    if found is not None and not known(settings, found):
        raise UnknownRevision(_unknown(found))
    command.upgrade(alembic_config(settings), revision)


def known(settings: Settings, revision: str) -> bool:
    """Whether this version ships ``revision``."""
    from alembic.script import ScriptDirectory

    revisions = ScriptDirectory.from_config(alembic_config(settings)).walk_revisions()
    return any(script.revision == revision for script in revisions)


def _unknown(found: str) -> str:
    return (
        f"the database is at revision {found}, which this version of Licensor does not know: "
        "a newer version migrated it; run that version, or restore the backup made before"
    )


def current(settings: Settings) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from licensor.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision


def head(settings: Settings) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


def schema_problem(settings: Settings) -> str | None:
    """Why the database cannot serve this version of Licensor yet, or None."""
    try:
        found = current(settings)
    except Exception as error:  # unreachable server, bad URL, unreadable file
        return f"cannot open the database: {error}"
    expected = head(settings)
    if found is None:
        return "the database has no tables yet: run `licensor migrate`"
    if found != expected and not known(settings, found):
        return _unknown(found)
    if found != expected:
        return (
            f"the database is at revision {found}, this version needs {expected}: "
            "run `licensor migrate`"
        )
    return None
