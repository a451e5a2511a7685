"""DSL flags: known cases raise priority, are attributable, and clearing keeps the record."""

import pytest

from collector.directory.importers import import_people
from collector.directory.store import DirectoryError, DirectoryStore
from collector.store import SqlStore
from tests.collector.directory.conftest import EXAMPLES, NOW, enrol


def test_known_case_flag_shows_on_resolve_until_cleared(
    store: SqlStore, directory: DirectoryStore
) -> None:
    import_people(
        directory,
        (EXAMPLES / "mis.csv").read_bytes(),
        "mis",
        EXAMPLES / "mapping-mis.yaml",
        now=NOW,
    )
    device = enrol(store)
    millie = directory.person_by_external_id("S204817")
    assert directory.resolve("s204817", device, NOW).known_case is False

    flag = directory.flag_known_case(
        millie.id, "Open case SG-2026-114", actor="dsl@college.example", now=NOW
    )
    assert (flag.kind, flag.set_by, flag.set_at, flag.open) == (
        "known_case",
        "dsl@college.example",
        NOW,
        True,
    )
    assert directory.resolve("s204817", device, NOW).known_case is True
    with pytest.raises(DirectoryError, match="already has an open"):
        directory.flag_known_case(millie.id, "again", actor="dsl@college.example")
    with pytest.raises(DirectoryError, match="say why"):
        directory.flag_known_case(millie.id, " ", actor="dsl@college.example")
    assert [(p.external_id, f.id) for p, f in directory.known_cases()] == [("S204817", flag.id)]

    cleared = directory.clear_flag(flag.id, "Case closed", actor="dsl2@college.example", now=NOW)
    assert (cleared.open, cleared.cleared_by, cleared.clear_reason) == (
        False,
        "dsl2@college.example",
        "Case closed",
    )
    assert directory.resolve("s204817", device, NOW).known_case is False
    assert directory.known_cases() == []
    assert [f.id for f in directory.flags_for_person(millie.id)] == [flag.id]
    assert directory.flags_for_person(millie.id, include_cleared=False) == []
    audit = [(a.action, a.actor, a.detail.get("flag_id")) for a in directory.audit_log(millie.id)][
        :2
    ]
    assert audit == [
        ("flag.cleared", "dsl2@college.example", flag.id),
        ("flag.set", "dsl@college.example", flag.id),
    ]
    # The audit holds ids, never the reason text.
    assert all("SG-2026" not in str(a.detail) for a in directory.audit_log())


def test_purge_removes_leavers_and_their_flags_but_keeps_the_audit(
    directory: DirectoryStore,
) -> None:
    from datetime import timedelta

    import_people(directory, b"Student ID,Forename,Username\n1,A,a1\n2,B,b2\n", "mis", now=NOW)
    b = directory.person_by_external_id("2")
    directory.flag_known_case(b.id, "case", actor="dsl", now=NOW)
    import_people(directory, b"Student ID,Forename,Username\n1,A,a1\n", "mis", now=NOW)
    assert directory.purge_left(NOW - timedelta(days=1)) == 0
    assert directory.purge_left(NOW + timedelta(days=1)) == 1
    assert directory.count_people(status=None) == 1
    assert directory.known_cases() == []
    assert directory.audit_log(b.id)[0].action == "person.purged"


def test_every_change_is_audited_in_its_own_transaction(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector.alerts import audit

    real_append = audit.append

    def append(conn, **row):  # type: ignore[no-untyped-def]
        assert conn.in_transaction()
        if row["actor"] == "refuse":
            raise RuntimeError("audit log unavailable")
        return real_append(conn, **row)

    monkeypatch.setattr(audit, "append", append)
    directory = DirectoryStore.for_store(store)
    import_people(directory, b"Student ID,Forename,Username\n1,A,a1\n", "mis", actor="it", now=NOW)
    person = directory.person_by_external_id("1")
    directory.flag_known_case(person.id, "case", actor="dsl", now=NOW)
    seen = [(a.actor, a.action, a.person_id) for a in reversed(directory.audit_log(person.id))]
    assert seen == [("it", "person.added", person.id), ("dsl", "flag.set", person.id)]
    # No audit, no change: a failing audit rolls the change back.
    other = directory.clear_flag(directory.flags_for_person(person.id)[0].id, "done", actor="dsl")
    with pytest.raises(RuntimeError):
        directory.flag_known_case(person.id, "again", actor="refuse")
    assert (
        other.open is False and directory.flags_for_person(person.id, include_cleared=False) == []
    )
