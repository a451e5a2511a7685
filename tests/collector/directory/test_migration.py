"""Migration 0002 builds exactly the tables the directory's models describe, on both backends.

Only the directory's tables are compared: later migrations belong to other packages, whose models
this test does not import.
"""

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from collector.directory import models as dm
from collector.store import SqlStore
from collector.store.migrate import alembic_config
from collector.store.models import metadata

OURS = {t.name for t in dm.DIRECTORY_TABLES}


def _table_of(diff: Any) -> str | None:
    if isinstance(diff, list):  # modify_* entries come grouped per column
        return _table_of(diff[0])
    op, *rest = diff
    if op in ("add_table", "remove_table"):
        return str(rest[0].name)
    if op in ("add_index", "remove_index"):
        return str(rest[0].table.name)
    if op in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        return str(rest[0].table.name)
    return str(rest[1])  # add_column / remove_column / modify_*: (op, schema, table, ...)


def directory_diff(store: SqlStore) -> list[Any]:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    return [d for d in diff if _table_of(d) in OURS]


def migrate(store: SqlStore, direction: str, revision: str) -> None:
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)


def test_upgrade_head_matches_the_models(store: SqlStore) -> None:
    assert set(inspect(store.engine).get_table_names()) >= OURS
    assert directory_diff(store) == []


def test_0002_alone_builds_the_directory_and_downgrades_cleanly(store: SqlStore) -> None:
    migrate(store, "downgrade", "0001")
    assert not OURS & set(inspect(store.engine).get_table_names())
    migrate(store, "upgrade", "0002")
    assert directory_diff(store) == []
    migrate(store, "upgrade", "head")
    assert directory_diff(store) == []


def test_0007_moves_directory_audit_rows_into_the_chain_once(store: SqlStore) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import text

    from collector.alerts import audit
    from collector.directory.store import DirectoryStore

    migrate(store, "downgrade", "0006")
    early = datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
    with store.engine.begin() as conn:
        # Written before the chain knew about directory changes: only in directory_audit.
        conn.execute(
            text(
                "INSERT INTO directory_audit (at, actor, action, person_id, detail)"
                " VALUES (:at, 'it@college', 'person.added', 41, '{}'),"
                " (:at, 'it@college', 'group.policy', NULL, '{\"group\": \"lab\"}')"
            ),
            {"at": early.replace(tzinfo=None)},
        )
        # Written since: in both, and must not be chained twice.
        later = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        conn.execute(
            text(
                "INSERT INTO directory_audit (at, actor, action, person_id, detail)"
                " VALUES (:at, 'dsl@college', 'flag.set', 41, '{}')"
            ),
            {"at": later.replace(tzinfo=None)},
        )
        audit.append(
            conn,
            actor="dsl@college",
            action="directory.flag.set",
            object_type="person",
            object_id=41,
            at=later,
        )
    migrate(store, "upgrade", "head")
    assert "directory_audit" not in inspect(store.engine).get_table_names()
    history = DirectoryStore.for_store(store).audit_log(41)
    assert [(a.actor, a.action, a.at) for a in reversed(history)] == [
        ("dsl@college", "flag.set", later),
        ("it@college", "person.added", early),
    ]
    assert [a.action for a in DirectoryStore.for_store(store).audit_log()].count(
        "group.policy"
    ) == 1
    with store.engine.connect() as conn:
        assert audit.verify(conn).ok


def test_0011_moves_the_coverage_list_into_an_empty_inventory(store: SqlStore) -> None:
    """Coverage's own copy of the MDM export (before 0011) becomes the device inventory when
    there is none; duplicates (one serial twice) are kept once, as an inventory import would."""
    from datetime import datetime

    from sqlalchemy import text

    from collector.directory.store import DirectoryStore

    migrate(store, "downgrade", "0010")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO expected_device_imports (id, at, actor, source, filename, rows) "
                "VALUES (1, :at, 'it@college', 'intune', 'intune.csv', 3)"
            ),
            {"at": datetime(2026, 11, 20, 9, 30)},
        )
        conn.execute(
            text(
                "INSERT INTO expected_devices (serial, hostname, site, group_name, import_id) "
                "VALUES ('sn1', 'PC-1', 'North', 'Year 12', 1), ('', 'PC-2', '', '', 1), "
                "('SN1', 'PC-1B', '', '', 1)"
            )
        )
    migrate(store, "upgrade", "head")
    tables = set(inspect(store.engine).get_table_names())
    assert not {"expected_devices", "expected_device_imports"} & tables
    directory = DirectoryStore.for_store(store)
    assert [(e.serial, e.hostname, e.site, e.group_name) for e in directory.expected_devices()] == [
        ("SN1", "pc-1", "North", "year_12"),
        ("", "pc-2", "", ""),
    ]
    (moved,) = directory.recent_imports(source="inventory")
    assert (moved.actor, moved.filename) == ("it@college", "intune.csv")
    assert moved.at.isoformat() == "2026-11-20T09:30:00+00:00"


def test_0011_keeps_an_existing_inventory(store: SqlStore) -> None:
    from sqlalchemy import text

    from collector.directory.importers import import_inventory
    from collector.directory.store import DirectoryStore

    directory = DirectoryStore.for_store(store)
    import_inventory(directory, b"serial,hostname\nINV-1,lab-1\n", actor="it@college")
    migrate(store, "downgrade", "0010")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO expected_devices (serial, hostname, site, group_name, import_id) "
                "VALUES ('OLD-1', 'old', '', '', 1)"
            )
        )
    migrate(store, "upgrade", "head")
    assert [e.serial for e in directory.expected_devices()] == ["INV-1"]
