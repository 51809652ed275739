"""The migrations make exactly the tables the models describe, on SQLite and on
PostgreSQL, and each revision can be undone and redone: a model changed without its
migration, or a migration that drifts from its model, fails here."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from licensor.config import Settings
from licensor.db import Database, make_engine
from licensor.migrate import alembic_config, current, head, upgrade
from licensor.models import Base


def test_the_migrated_schema_is_the_models_schema(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_every_revision_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'm.db'}", _env_file=None
    )
    config = alembic_config(settings)
    revisions = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]
    upgrade(settings)
    assert current(settings) == head(settings)
    command.downgrade(config, "base")
    assert current(settings) is None
    upgrade(settings)
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
    assert current(settings) == revisions[0]  # walk_revisions starts at the head
