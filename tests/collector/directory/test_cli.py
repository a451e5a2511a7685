"""The people/groups subcommands, through argparse as collector/cli.py mounts them."""

import argparse
import json
from pathlib import Path

import pytest

from collector.directory.cli import add_commands
from collector.directory.store import DirectoryStore
from collector.store import open_store
from tests.collector.directory.conftest import EXAMPLES


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    directory = DirectoryStore.for_store(open_store(f"sqlite:///{tmp_path / 'lantern.db'}"))
    parser = argparse.ArgumentParser(prog="lantern-collector")
    add_commands(parser.add_subparsers(dest="command", required=True), lambda _args: directory)

    def call(*argv: str) -> tuple[int, str, str]:
        args = parser.parse_args(argv)
        code = args.func(args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def test_people_import_prints_a_summary_and_unusable_lines(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(
        "people",
        "import",
        str(EXAMPLES / "mis.csv"),
        "--format",
        "mis",
        "--mapping",
        str(EXAMPLES / "mapping-mis.yaml"),
    )
    assert code == 0 and "4 added" in out
    bad = tmp_path / "plain.csv"
    bad.write_text("external_id,given_name,date_of_birth\nx1,A,2009-02-30\nx2,B,2009-02-01\n")
    code, out, _ = run("people", "import", str(bad), "--format", "csv", "--dry-run")
    assert code == 0 and out.startswith("would import plain.csv (plain): 2 rows, 1 added")
    assert "line 2 [x1]: date of birth '2009-02-30' is not a date" in out
    code, out, _ = run(
        "people", "import", str(EXAMPLES / "entra.csv"), "--format", "entra", "--json"
    )
    assert code == 0 and json.loads(out)["summary"]["added"] == 2
    code, _, err = run("people", "import", str(EXAMPLES / "devices.csv"), "--format", "mis")
    assert code == 2 and "no header row" in err


def test_inventory_resolve_special_logins_and_policies(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("people", "import", str(EXAMPLES / "mis.csv"), "--format", "mis")
    code, out, _ = run("people", "inventory", str(EXAMPLES / "devices.csv"))
    assert code == 0 and "4 added" in out
    code, out, _ = run(
        "people",
        "resolve",
        "COLLEGE\\s204818",
        "--device",
        "nope",
        "--at",
        "2026-11-25T09:00:00+00:00",
    )
    assert code == 0 and json.loads(out)["external_id"] == "S204818"
    code, out, _ = run("people", "special-login", "exam*", "--kind", "shared", "--label", "Exams")
    assert code == 0 and "exam* is a shared login" in out
    policy = tmp_path / "adult.yaml"
    policy.write_text("notice_text: Adult learners are monitored too.\nmin_severity: {'*': 4}\n")
    code, out, _ = run("groups", "policy-set", "Adult Learners", "--file", str(policy))
    assert code == 0 and "adult_learners is now version 1" in out
    code, out, _ = run("groups", "policy-show", "adult_learners")
    assert "notice_text: Adult learners are monitored too." in out
    policy.write_text("categories: [knitting]\n")
    code, _, err = run("groups", "policy-set", "x", "--file", str(policy))
    assert code == 2 and "unknown categories" in err
    code, out, _ = run("groups", "list")
    assert "adult_learners\t0 people\t0 devices\tpolicy v1" in out
