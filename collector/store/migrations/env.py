"""Alembic environment: uses the connection handed over by collector.store.migrate, or a URL."""

from alembic import context
from sqlalchemy import create_engine

# Every module that defines tables on the shared metadata, so autogenerate sees one schema.
import collector.alerts.models
import collector.directory.models  # noqa: F401
from collector.store.models import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
