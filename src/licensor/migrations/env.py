"""Alembic environment: run by ``licensor migrate`` with the configured database."""

from __future__ import annotations

from alembic import context

from licensor.db import make_engine
from licensor.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "licensor migrate sets sqlalchemy.url"

connectable = config.attributes.get("connection")
if connectable is None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
else:
    context.configure(connection=connectable, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
