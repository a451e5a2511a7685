"""The drop folder: a new export landing re-imports it, partial files wait, failures are kept."""

import json
import time
from pathlib import Path

import pytest

from collector.directory.store import DirectoryStore
from collector.directory.watch import DropFolder
from collector.store import open_store
from tests.collector.directory.conftest import EXAMPLES


@pytest.fixture
def directory(tmp_path: Path) -> DirectoryStore:
    """SQLite only: the folder logic does not depend on the backend (the store tests cover both)."""
    return DirectoryStore.for_store(open_store(f"sqlite:///{tmp_path / 'lantern.db'}"))


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_exports_dropped_in_the_folder_are_imported_and_filed(
    tmp_path: Path, directory: DirectoryStore
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    # Present before the watcher starts (landed while the collector was down).
    (drop / "devices-2026-11-25.csv").write_bytes((EXAMPLES / "devices.csv").read_bytes())
    folder = DropFolder(directory, drop, settle_seconds=0.3)
    folder.start()
    try:
        wait_for(lambda: len(folder.results) == 1)
        # A new MIS export arrives in two writes, like a slow network copy.
        data = (EXAMPLES / "people.csv").read_bytes()
        with (drop / "people-nightly.csv").open("wb") as f:
            f.write(data[:60])
            f.flush()
            time.sleep(0.15)
            f.write(data[60:])
        (drop / "notes.txt").write_text("not an export")
        (drop / "mis-broken.csv").write_text("Name,Email\nA,B\n")
        wait_for(lambda: len(folder.results) == 3)
    finally:
        folder.stop()
    assert directory.count_people() == 3  # the whole file, not the first 60 bytes
    processed = sorted(p.name for p in (drop / "processed").iterdir())
    assert [n.split("-", 1)[1] for n in processed] == [
        "devices-2026-11-25.csv",
        "devices-2026-11-25.csv.report.json",
        "people-nightly.csv",
        "people-nightly.csv.report.json",
    ]
    report = json.loads(
        next((drop / "processed").glob("*people-nightly.csv.report.json")).read_text()
    )
    assert report["summary"]["added"] == 3
    failed = json.loads(next((drop / "failed").glob("*mis-broken.csv.report.json")).read_text())
    assert "no header row" in failed["error"]
    assert (drop / "notes.txt").exists()


def test_drop_yaml_rules_choose_format_and_mapping(
    tmp_path: Path, directory: DirectoryStore
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "drop.yaml").write_text(
        'rules:\n  - {pattern: "ProSolution_*.csv", format: mis, mapping: mapping-mis.yaml}\n'
    )
    (drop / "mapping-mis.yaml").write_bytes((EXAMPLES / "mapping-mis.yaml").read_bytes())
    export = drop / "ProSolution_Students.csv"
    export.write_bytes((EXAMPLES / "mis.csv").read_bytes())
    folder = DropFolder(directory, drop, settle_seconds=0.05)
    assert folder.rule_for(drop / "mis-other.csv") is None  # drop.yaml replaces the defaults
    report = folder.process(export.absolute())
    assert report is not None and len(report.added) == 4
    assert directory.person_by_external_id("S204820").groups == ("adult_learners",)
