"""Directory changes land in the hash-chained audit log (the one audit trail)."""

from pathlib import Path

from collector.alerts import audit
from collector.directory.importers import import_people
from collector.directory.store import DirectoryStore
from collector.store import open_store

ROOT = Path(__file__).resolve().parents[3]


def test_a_dsl_flag_is_in_the_hash_chain(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    directory = DirectoryStore.for_store(store)
    import_people(directory, (ROOT / "docs/examples/directory/mis.csv").read_bytes(), "mis")
    person = directory.person_by_external_id("S204817")
    directory.flag_known_case(person.id, "open case with early help", actor="dsl@college")
    with store.engine.connect() as conn:
        actions = [e.action for e in audit.history(conn, "person", person.id)]
        assert audit.verify(conn).ok
    assert any(a.startswith("directory.") and "flag" in a for a in actions), actions
    store.close()


def test_an_inventory_import_is_in_the_hash_chain(tmp_path: Path) -> None:
    from collector.directory.importers import import_inventory

    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    directory = DirectoryStore.for_store(store)
    data = b"serial,hostname,group\nSN1,lab-1,Year 12\nSN2,lab-2,Staff\n"
    import_inventory(directory, data, actor="it@college", dry_run=True)
    report = import_inventory(directory, data, actor="it@college")
    with store.engine.connect() as conn:
        entries = [e for e in audit.history(conn, "directory", "-") if "inventory" in e.action]
        assert audit.verify(conn).ok
    (entry,) = entries  # the dry run left nothing
    assert entry.actor == "it@college" and entry.detail["added"] == 2
    assert entry.detail["import_id"] == report.import_id
    store.close()
