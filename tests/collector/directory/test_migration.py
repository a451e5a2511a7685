"""Migration 0002 builds exactly the tables the directory's models describe, on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from collector.directory import models as dm
from collector.store import SqlStore
from collector.store.migrate import alembic_config
from collector.store.models import metadata


def test_upgrade_head_matches_the_models(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    tables = set(inspect(store.engine).get_table_names())
    assert {t.name for t in dm.DIRECTORY_TABLES} <= tables


def test_downgrade_to_0001_removes_only_the_directory(store: SqlStore) -> None:
    from alembic import command

    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    tables = set(inspect(store.engine).get_table_names())
    assert not {t.name for t in dm.DIRECTORY_TABLES} & tables
    assert {"devices", "events", "alerts"} <= tables
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert {t.name for t in dm.DIRECTORY_TABLES} <= set(inspect(store.engine).get_table_names())
