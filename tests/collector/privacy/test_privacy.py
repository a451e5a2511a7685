"""The data inventory cannot drift from the schema, and subject access finds everything."""

from dataclasses import replace
from pathlib import Path

import collector.store  # noqa: F401 - first, so the alert models import in order
from collector.alerts import audit
from collector.alerts import models as am
from collector.directory import models as dm
from collector.directory.importers import import_people
from collector.directory.store import DirectoryStore
from collector.privacy.inventory import listed_columns, load, render_markdown
from collector.privacy.subject_access import export
from collector.store import models as m
from collector.store import open_store
from collector.web import models as wm
from tests.collector.store.test_contract import alert_every_match, enrolled, row

ROOT = Path(__file__).resolve().parents[3]
_ = (am, dm, wm)  # every table module loaded onto the shared metadata


def test_every_table_and_column_is_in_the_inventory() -> None:
    inventory = load()
    tables = {t.name: {c.name for c in t.columns} for t in m.metadata.sorted_tables}
    assert set(inventory) == set(tables), "inventory.yaml and the schema list different tables"
    for name, columns in tables.items():
        listed = listed_columns(inventory[name])
        assert listed == columns, f"{name}: unlisted {columns - listed}, stale {listed - columns}"
        for column, info in inventory[name].get("personal", {}).items():
            assert info["purpose"] and info["who"], f"{name}.{column} needs a purpose and readers"
        assert inventory[name]["retention"], f"{name} needs a retention rule"


def test_docs_privacy_md_is_generated_from_the_inventory() -> None:
    assert (ROOT / "docs/privacy.md").read_text().strip() == render_markdown().strip(), (
        "docs/privacy.md is stale: run `lantern-collector privacy inventory > docs/privacy.md`"
    )


def test_subject_access_export_holds_everything_about_one_person_and_is_audited(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    directory = DirectoryStore.for_store(store)
    import_people(directory, (ROOT / "docs/examples/directory/mis.csv").read_bytes(), "mis")
    device = enrolled(store)
    users = ["COLLEGE\\s204817", "s204817@college.example.ac.uk", "s204818"]
    rows = [replace(row(device, seq=i, rule=f"r{i}"), os_user=u) for i, u in enumerate(users, 1)]
    store.ingest(device, rows, alert_every_match)

    data = export(store.engine, directory, "S204817", actor="dpo@college.example")

    assert data["person"]["external_id"] == "S204817"
    assert sorted(data["logins_seen"]) == ["COLLEGE\\s204817", "s204817@college.example.ac.uk"]
    assert {e["os_user"] for e in data["events"]} == set(data["logins_seen"])
    assert len(data["alerts"]) == 2  # not the other student's
    with store.engine.connect() as conn:
        entries = [
            e
            for e in audit.history(conn, "person", data["person"]["id"])
            if e.action == "sar.export"
        ]
    assert entries and entries[0].actor == "dpo@college.example"
